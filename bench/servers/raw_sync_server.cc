// bench_raw_sync: the Echo service on gRPC C++'s synchronous API, where gRPC runs handlers on its
// own thread pool (the design gryphon's blocking-handler pool is compared against).

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

class EchoSyncService final : public Echo::Service {
 public:
  grpc::Status Call(grpc::ServerContext* context, const EchoRequest* request,
                    EchoResponse* response) override {
    echo(*request, response);
    ok_rpcs_.fetch_add(1, std::memory_order_relaxed);
    return grpc::Status::OK;
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
      parse_server_flags(argc, argv, "Echo server on the gRPC C++ synchronous API", false);
  block_server_signals();

  EchoSyncService service;
  return serve_service(service, flags, argv[0], [&service] { return service.ok_rpcs(); });
}
