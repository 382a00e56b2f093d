// A plain gRPC client for the greeter: `greeter_client --target 127.0.0.1:50051 --name you`.
#include <grpcpp/grpcpp.h>

#include <CLI/CLI.hpp>
#include <iostream>

#include "greeter.grpc.pb.h"

int main(int argc, char** argv) {
  CLI::App app{"Calls the greeter example over gRPC"};
  std::string target = "127.0.0.1:50051";
  std::string name = "world";
  bool stream = false;
  int count = 1;
  app.add_option("--target", target, "server address (host:port or unix:/path)");
  app.add_option("--name", name, "name to greet");
  app.add_option("--count", count, "how many SayHello calls to make")->check(CLI::PositiveNumber);
  app.add_flag("--stream", stream, "call SayHelloStream instead of SayHello");
  CLI11_PARSE(app, argc, argv);

  auto stub =
      helloworld::Greeter::NewStub(grpc::CreateChannel(target, grpc::InsecureChannelCredentials()));
  helloworld::HelloRequest request;
  request.set_name(name);
  for (int i = 0; i < count; ++i) {
    grpc::ClientContext context;
    context.set_deadline(std::chrono::system_clock::now() + std::chrono::seconds(5));
    grpc::Status status;
    if (stream) {
      auto reader = stub->SayHelloStream(&context, request);
      helloworld::HelloReply reply;
      while (reader->Read(&reply)) std::cout << reply.message() << "\n";
      status = reader->Finish();
    } else {
      helloworld::HelloReply reply;
      status = stub->SayHello(&context, request, &reply);
      if (status.ok()) std::cout << reply.message() << "\n";
    }
    if (!status.ok()) {
      std::cerr << "error: " << status.error_code() << " " << status.error_message()
                << " (is greeter_server running on " << target << "?)\n";
      return 1;
    }
  }
  return 0;
}
