// The gryphon candidate of the benchmark: the Echo service served by a gryphon master and its
// workers, configured entirely by gryphon's own flags (--workers, --access-log, --metrics-address,
// ...). BENCH_HANDLERS=pool registers the handler on the worker's handler pool (the path blocking
// handlers take), BENCH_HANDLERS=async serves it with an async handler (a coroutine on the event
// loop); the default runs it inline on the I/O thread. BENCH_HANDLER_DELAY_US makes the handler
// wait that long before answering: a blocking sleep, or `co_await gryphon::sleep_for` when async.
// Ticker/Ticks (bench/streams.py) is served the same two ways: a blocking stream on the pool, or
// an async one.
#include <gryphon/async.h>
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

class AsyncEchoService final : public gryphon::bench::EchoAsyncHandler {
 public:
  explicit AsyncEchoService(int delay_us) : delay_us_(delay_us) {}
  gryphon::Task<grpc::Status> Call(gryphon::Context& context,
                                   const gryphon::bench::EchoRequest& request,
                                   gryphon::bench::EchoResponse& response) override {
    if (delay_us_ > 0) {
      const bool waited =
          co_await gryphon::sleep_for(context, std::chrono::microseconds(delay_us_));
      if (!waited) co_return grpc::Status(grpc::StatusCode::CANCELLED, "the call ended");
    }
    response.set_message(request.message());
    if (request.has_complex()) *response.mutable_complex() = request.complex();
    co_return grpc::Status::OK;
  }

 private:
  int delay_us_;
};

// Ticks: `count` messages, one per interval; the sync stream sleeps on its pool thread.
class TickerService final : public gryphon::bench::TickerHandler {
 public:
  grpc::Status Ticks(gryphon::Context& context, const gryphon::bench::TicksRequest& request,
                     gryphon::ServerWriter<gryphon::bench::EchoResponse>& writer) override {
    gryphon::bench::EchoResponse tick;
    for (int i = 0; i < request.count() && !context.is_cancelled(); ++i) {
      std::this_thread::sleep_for(std::chrono::milliseconds(request.interval_millis()));
      tick.set_message(std::to_string(i));
      if (!writer.Write(tick)) break;
    }
    return grpc::Status::OK;
  }
};

class AsyncTickerService final : public gryphon::bench::TickerAsyncHandler {
 public:
  gryphon::Task<grpc::Status> Ticks(
      gryphon::Context& context, const gryphon::bench::TicksRequest& request,
      gryphon::AsyncWriter<gryphon::bench::EchoResponse>& writer) override {
    gryphon::bench::EchoResponse tick;
    for (int i = 0; i < request.count(); ++i) {
      const bool slept = co_await gryphon::sleep_for(
          context, std::chrono::milliseconds(request.interval_millis()));
      if (!slept) co_return grpc::Status(grpc::StatusCode::CANCELLED, "the call ended");
      tick.set_message(std::to_string(i));
      const bool wrote = co_await writer.write(tick);
      if (!wrote) break;
    }
    co_return grpc::Status::OK;
  }
};

std::string env(const char* name) {
  const char* value = std::getenv(name);
  return value != nullptr ? value : "";
}

}  // namespace

int main(int argc, char** argv) {
  const bool pool = env("BENCH_HANDLERS") == "pool";
  const bool async = env("BENCH_HANDLERS") == "async";
  const int delay_us =
      env("BENCH_HANDLER_DELAY_US").empty() ? 0 : std::atoi(env("BENCH_HANDLER_DELAY_US").c_str());
  gryphon::Server server("bench_gryphon_echo");
  if (async) {
    server.add_service<AsyncEchoService>({}, delay_us);
    server.add_service<AsyncTickerService>();
  } else {
    server.add_service<EchoService>({.inline_handlers = !pool}, delay_us);
    server.add_service<TickerService>();
  }
  return server.run(argc, argv);
}
