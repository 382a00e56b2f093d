// The server behind served_test.cc: helloworld.Greeter implemented through its generated handler
// (all four RPC kinds), and acme.billing.v1.Billing registered without overriding anything, so
// every Billing method answers the generated UNIMPLEMENTED default.
//
// Behaviour the test relies on:
//   - fail_with != 0 in a request makes the call fail with that status code;
//   - SayHello echoes client metadata `x-echo` into the reply, and sends initial metadata
//     `x-initial` and trailing metadata `x-peer` and `x-deadline` (whether the call has one);
//   - SayHelloStream with count < 0 streams until the call is cancelled, then counts the
//     cancellation; SayHello with name "cancellations?" answers that count.
#include <gryphon/server.h>

#include <atomic>
#include <chrono>
#include <string>
#include <thread>

#include "acme/billing/v1/billing.gryphon.h"
#include "helloworld/greeter.gryphon.h"

namespace {

std::atomic<int> g_cancellations{0};

grpc::Status requested_failure(const helloworld::HelloRequest& request) {
  return grpc::Status(static_cast<grpc::StatusCode>(request.fail_with()),
                      "failing as asked by " + request.name());
}

class Greeter final : public helloworld::GreeterHandler {
 public:
  grpc::Status SayHello(gryphon::Context& context, const helloworld::HelloRequest& request,
                        helloworld::HelloReply& response) override {
    if (request.fail_with() != 0) return requested_failure(request);
    if (request.name() == "cancellations?") {
      response.set_message(std::to_string(g_cancellations.load()));
      return grpc::Status::OK;
    }
    response.set_message("Hello " + request.name());
    if (const std::string_view echo = context.metadata("x-echo"); !echo.empty()) {
      response.set_echoed_metadata(std::string(echo));
    }
    context.add_initial_metadata("x-initial", "sent-before-the-reply");
    context.add_trailing_metadata("x-peer", context.peer());
    context.add_trailing_metadata("x-deadline", context.has_deadline() ? "yes" : "no");
    return grpc::Status::OK;
  }

  grpc::Status SayHelloStream(gryphon::Context& context, const helloworld::HelloRequest& request,
                              gryphon::ServerWriter<helloworld::HelloReply>& writer) override {
    if (request.fail_with() != 0) return requested_failure(request);
    helloworld::HelloReply reply;
    if (request.count() < 0) {  // until cancelled
      for (int i = 0; !context.is_cancelled(); ++i) {
        reply.set_message("Hello " + request.name() + " #" + std::to_string(i));
        if (!writer.Write(reply)) break;
        std::this_thread::sleep_for(std::chrono::milliseconds(5));
      }
      ++g_cancellations;
      return grpc::Status(grpc::StatusCode::CANCELLED, "the client cancelled");
    }
    const int count = request.has_count() ? request.count() : 3;
    for (int i = 0; i < count; ++i) {
      reply.set_message("Hello " + request.name() + " #" + std::to_string(i));
      if (!writer.Write(reply)) return grpc::Status(grpc::StatusCode::CANCELLED, "call ended");
    }
    return grpc::Status::OK;
  }

  grpc::Status SayHelloToAll(gryphon::Context&,
                             gryphon::ServerReader<helloworld::HelloRequest>& reader,
                             helloworld::HelloReply& response) override {
    helloworld::HelloRequest request;
    std::string names;
    while (reader.Read(&request)) {
      if (request.fail_with() != 0) return requested_failure(request);
      names += (names.empty() ? "" : ", ") + request.name();
    }
    response.set_message("Hello " + names);
    return grpc::Status::OK;
  }

  grpc::Status Chat(gryphon::Context&,
                    gryphon::ServerReaderWriter<helloworld::HelloReply, helloworld::HelloRequest>&
                        stream) override {
    helloworld::HelloRequest request;
    helloworld::HelloReply reply;
    while (stream.Read(&request)) {
      if (request.fail_with() != 0) return requested_failure(request);
      reply.set_message("Hello " + request.name());
      if (!stream.Write(reply)) return grpc::Status(grpc::StatusCode::CANCELLED, "call ended");
    }
    return grpc::Status::OK;
  }
};

// Implements nothing: every method answers the generated default.
class Billing final : public acme::billing::v1::BillingHandler {};

}  // namespace

int main(int argc, char** argv) {
  gryphon::Server server("codegen_served_server");
  server.add_service<Greeter>();
  server.add_service<Billing>();
  return server.run(argc, argv);
}
