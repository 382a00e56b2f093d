// The gryphon candidate of the benchmark: the Echo service served by a gryphon master and its
// workers, configured entirely by gryphon's own flags (--workers, --access-log, --metrics-address,
// ...). BENCH_HANDLERS=pool registers the handler on the worker's handler pool (the path blocking
// handlers take); the default runs it inline on the completion-queue thread. BENCH_HANDLER_DELAY_US
// makes the handler sleep that long (a blocking call) before answering.
#include <gryphon/server.h>

#include <chrono>
#include <cstdlib>
#include <string>
#include <thread>

#include "echo.gryphon.h"

namespace {

class EchoService final : public gryphon::bench::EchoHandler {
 public:
  explicit EchoService(int delay_us) : delay_us_(delay_us) {}
  grpc::Status Call(gryphon::Context&, const gryphon::bench::EchoRequest& request,
                    gryphon::bench::EchoResponse& response) override {
    if (delay_us_ > 0) std::this_thread::sleep_for(std::chrono::microseconds(delay_us_));
    response.set_message(request.message());
    if (request.has_complex()) *response.mutable_complex() = request.complex();
    return grpc::Status::OK;
  }

 private:
  int delay_us_;
};

std::string env(const char* name) {
  const char* value = std::getenv(name);
  return value != nullptr ? value : "";
}

}  // namespace

int main(int argc, char** argv) {
  const bool pool = env("BENCH_HANDLERS") == "pool";
  const int delay_us =
      env("BENCH_HANDLER_DELAY_US").empty() ? 0 : std::atoi(env("BENCH_HANDLER_DELAY_US").c_str());
  gryphon::Server server("bench_gryphon_echo");
  server.add_service<EchoService>({.inline_handlers = !pool}, delay_us);
  return server.run(argc, argv);
}
