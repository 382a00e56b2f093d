#include "greeter_service.h"

namespace greeter {

grpc::Status GreeterService::SayHello(gryphon::Context&, const helloworld::HelloRequest& request,
                                      helloworld::HelloReply& reply) {
  reply.set_message("Hello " + request.name());
  return grpc::Status::OK;
}

grpc::Status GreeterService::SayHelloStream(gryphon::Context& context,
                                            const helloworld::HelloRequest& request,
                                            gryphon::ServerWriter<helloworld::HelloReply>& writer) {
  static constexpr const char* kGreetings[] = {"Hello", "Bonjour", "Hola", "Ciao", "Hallo"};
  helloworld::HelloReply reply;
  for (const char* greeting : kGreetings) {
    if (context.draining()) {  // end the stream so the client reconnects to a worker that stays
      return grpc::Status(grpc::StatusCode::UNAVAILABLE,
                          "this server is draining; reconnect to continue");
    }
    reply.set_message(std::string(greeting) + " " + request.name());
    if (!writer.Write(reply))
      return grpc::Status(grpc::StatusCode::CANCELLED, "the client went away");
  }
  return grpc::Status::OK;
}

}  // namespace greeter
