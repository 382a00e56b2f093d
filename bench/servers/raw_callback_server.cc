// bench_raw_callback: the Echo service on gRPC C++'s callback API. gRPC owns the threads; the
// handler answers inline through the context's default reactor.

#include <grpcpp/grpcpp.h>

#include <atomic>
#include <chrono>
#include <cstdint>
#include <iostream>
#include <memory>

#include "echo.grpc.pb.h"
#include "server_support.h"

namespace gryphon::bench {
namespace {

class EchoCallbackService final : public Echo::CallbackService {
 public:
  grpc::ServerUnaryReactor* Call(grpc::CallbackServerContext* context, const EchoRequest* request,
                                 EchoResponse* response) override {
    echo(*request, response);
    ok_rpcs_.fetch_add(1, std::memory_order_relaxed);
    grpc::ServerUnaryReactor* reactor = context->DefaultReactor();
    reactor->Finish(grpc::Status::OK);
    return reactor;
  }

  std::uint64_t ok_rpcs() const { return ok_rpcs_.load(); }

 private:
  std::atomic<std::uint64_t> ok_rpcs_{0};
};

}  // namespace
}  // namespace gryphon::bench

int main(int argc, char** argv) {
  using namespace gryphon::bench;
  ServerFlags flags =
      parse_server_flags(argc, argv, "Echo server on the gRPC C++ callback API", false);
  block_server_signals();

  EchoCallbackService service;
  return serve_service(service, flags, argv[0], [&service] { return service.ok_rpcs(); });
}
