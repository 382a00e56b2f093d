// The drills' server: the greeter (inline, as in examples/greeter), the Drill service on the
// handler pool and AsyncDrill, coroutines on the event loops. GRYPHON_TEST_FAIL_START=1 makes
// on_worker_start throw (start-up crash loop), and GRYPHON_TEST_FAIL_START_IF=<path> makes it throw
// while that file exists (a crash loop after the instance was ready);
// GRYPHON_TEST_START_DELAY_MS=<n> makes it take n ms (a slow start);
// GRYPHON_TEST_INIT_GRPC_IN_MASTER=1 initialises gRPC in the master's before_fork hook.
// AsyncDrill is the same waits as an async handler.
#include <grpc/grpc.h>
#include <gryphon/client.h>
#include <gryphon/server.h>
#include <unistd.h>

#include <cstdio>
#include <cstdlib>
#include <filesystem>
#include <map>
#include <memory>
#include <mutex>
#include <stdexcept>
#include <thread>
#include <vector>

#include "drill.gryphon.h"
#include "greeter_service.h"

namespace {

class DrillService final : public gryphon::test::DrillHandler {
 public:
  grpc::Status Sleep(gryphon::Context& context, const gryphon::test::SleepRequest& request,
                     gryphon::test::SleepReply& reply) override {
    std::this_thread::sleep_for(std::chrono::milliseconds(request.millis()));
    reply.set_slot(context.slot());
    reply.set_pid(static_cast<int>(::getpid()));
    return grpc::Status::OK;
  }
  grpc::Status Throw(gryphon::Context&, const gryphon::test::ThrowRequest& request,
                     gryphon::test::ThrowReply&) override {
    throw std::runtime_error(request.message());
  }
  grpc::Status Crash(gryphon::Context&, const gryphon::test::CrashRequest&,
                     gryphon::test::CrashReply&) override {
    std::abort();
  }
  grpc::Status Fail(gryphon::Context&, const gryphon::test::FailRequest& request,
                    gryphon::test::FailReply&) override {
    return grpc::Status(static_cast<grpc::StatusCode>(request.code()), request.message());
  }
  grpc::Status Wait(gryphon::Context& context, const gryphon::test::SleepRequest& request,
                    gryphon::test::SleepReply&) override {
    const auto until =
        std::chrono::steady_clock::now() + std::chrono::milliseconds(request.millis());
    while (std::chrono::steady_clock::now() < until) {
      if (context.is_cancelled())
        return grpc::Status(grpc::StatusCode::CANCELLED, "noticed the cancel");
      std::this_thread::sleep_for(std::chrono::milliseconds(5));
    }
    return grpc::Status::OK;
  }
  grpc::Status Inspect(gryphon::Context& context, const gryphon::test::InspectRequest& request,
                       gryphon::test::InspectReply& reply) override {
    for (const auto& key : request.keys()) {
      auto* entry = reply.add_keys();
      entry->set_key(key);
      entry->set_present(context.find_metadata(key).has_value());
      for (std::string_view value : context.metadata_values(key))
        entry->add_values(std::string(value));
      entry->set_first(std::string(context.metadata(key)));
    }
    reply.set_request_id(std::string(context.request_id()));
    return grpc::Status::OK;
  }
  grpc::Status Hold(gryphon::Context&, const gryphon::test::HoldRequest& request,
                    gryphon::test::HoldReply& reply) override {
    static std::mutex mutex;
    static std::vector<std::unique_ptr<char[]>> held;
    const std::size_t bytes = static_cast<std::size_t>(request.mebibytes()) << 20;
    auto block = std::make_unique<char[]>(bytes);
    for (std::size_t at = 0; at < bytes; at += 4096) block[at] = 1;  // resident, not just mapped
    std::lock_guard lock(mutex);
    held.push_back(std::move(block));
    reply.set_pid(static_cast<int>(::getpid()));
    return grpc::Status::OK;
  }
};

// Drill's waits as coroutines: each call suspends on a timer of its loop, holding no thread.
class AsyncDrillService final : public gryphon::test::AsyncDrillAsyncHandler {
 public:
  gryphon::Task<grpc::Status> Sleep(gryphon::Context& context,
                                    const gryphon::test::SleepRequest& request,
                                    gryphon::test::SleepReply& reply) override {
    const bool slept =
        co_await gryphon::sleep_for(context, std::chrono::milliseconds(request.millis()));
    if (!slept)
      co_return grpc::Status(grpc::StatusCode::CANCELLED, "the call ended while it slept");
    reply.set_slot(context.slot());
    reply.set_pid(static_cast<int>(::getpid()));
    co_return grpc::Status::OK;
  }
  gryphon::Task<grpc::Status> Throw(gryphon::Context& context,
                                    const gryphon::test::ThrowRequest& request,
                                    gryphon::test::ThrowReply&) override {
    co_await gryphon::sleep_for(context, std::chrono::milliseconds(1));
    throw std::runtime_error(request.message());
  }
  gryphon::Task<grpc::Status> Ticks(gryphon::Context& context,
                                    const gryphon::test::TicksRequest& request,
                                    gryphon::AsyncWriter<gryphon::test::Tick>& writer) override {
    gryphon::test::Tick tick;
    tick.mutable_payload()->assign(static_cast<std::size_t>(request.payload_bytes()), 'x');
    for (int i = 0; i < request.count(); ++i) {
      // Never co_await in a condition (gryphon/async.h): g++ 12 miscompiles it.
      if (request.interval_millis() > 0) {
        const bool slept = co_await gryphon::sleep_for(
            context, std::chrono::milliseconds(request.interval_millis()));
        if (!slept)
          co_return grpc::Status(grpc::StatusCode::CANCELLED, "the call ended while it slept");
      }
      tick.set_index(i);
      const bool written = co_await writer.write(tick);
      if (!written)
        co_return grpc::Status(grpc::StatusCode::CANCELLED, "the call ended while it wrote");
    }
    co_return grpc::Status::OK;
  }
  gryphon::Task<grpc::Status> Sum(gryphon::Context&,
                                  gryphon::AsyncReader<gryphon::test::SumPart>& reader,
                                  gryphon::test::SumReply& reply) override {
    gryphon::test::SumPart part;
    for (bool more = co_await reader.read(&part); more; more = co_await reader.read(&part)) {
      reply.set_total(reply.total() + part.value());
      reply.set_parts(reply.parts() + 1);
    }
    co_return grpc::Status::OK;
  }
  gryphon::Task<grpc::Status> Echo(
      gryphon::Context&,
      gryphon::AsyncReaderWriter<gryphon::test::Tick, gryphon::test::Tick>& stream) override {
    gryphon::test::Tick tick;
    for (bool more = co_await stream.read(&tick); more; more = co_await stream.read(&tick)) {
      const bool written = co_await stream.write(tick);
      if (!written)
        co_return grpc::Status(grpc::StatusCode::CANCELLED, "the call ended while it wrote");
    }
    co_return grpc::Status::OK;
  }
  gryphon::Task<grpc::Status> Relay(gryphon::Context& context,
                                    const gryphon::test::RelayRequest& request,
                                    gryphon::test::ProbeReply& reply) override {
    const bool waited =
        co_await gryphon::sleep_for(context, std::chrono::milliseconds(request.wait_millis()));
    if (!waited)
      co_return grpc::Status(grpc::StatusCode::CANCELLED, "the call ended while it waited");
    gryphon::test::ProbeRequest probe;
    probe.set_hold_millis(request.hold_millis());
    const grpc::Status status =
        co_await gryphon::unary_call(channel(request.target(), request.ca_file()),
                                     "/gryphon.test.AsyncDrill/Probe", context, probe, reply);
    reply.set_trace_id(context.trace_id());
    co_return status;
  }
  gryphon::Task<grpc::Status> Probe(gryphon::Context& context,
                                    const gryphon::test::ProbeRequest& request,
                                    gryphon::test::ProbeReply& reply) override {
    reply.set_deadline_micros(context.has_deadline()
                                  ? std::chrono::duration_cast<std::chrono::microseconds>(
                                        context.deadline() - std::chrono::system_clock::now())
                                        .count()
                                  : -1);
    reply.set_request_id(context.request_id());
    reply.set_traceparent(std::string(context.metadata("traceparent")));
    reply.set_tracestate(std::string(context.metadata("tracestate")));
    if (request.hold_millis() > 0) {
      std::fprintf(stderr, "Probe holding for %d ms\n", request.hold_millis());
      const bool held =
          co_await gryphon::sleep_for(context, std::chrono::milliseconds(request.hold_millis()));
      if (!held) {
        const auto micros = std::chrono::duration_cast<std::chrono::microseconds>(
                                std::chrono::system_clock::now().time_since_epoch())
                                .count();
        std::fprintf(stderr, "Probe cancelled at %lld\n", static_cast<long long>(micros));
        co_return grpc::Status(grpc::StatusCode::CANCELLED, "the call ended while it held");
      }
    }
    co_return grpc::Status::OK;
  }

 private:
  // One channel per target, made in this worker on first use; TLS when a CA is given.
  std::shared_ptr<grpc::Channel> channel(const std::string& target, const std::string& ca_file) {
    std::lock_guard lock(mutex_);
    auto& made = channels_[target + " " + ca_file];
    if (!made) made = gryphon::connect(target, {.tls = !ca_file.empty(), .ca_file = ca_file});
    return made;
  }
  std::mutex mutex_;
  std::map<std::string, std::shared_ptr<grpc::Channel>> channels_;
};

}  // namespace

int main(int argc, char** argv) {
  gryphon::Server server("drill_server");
  server.add_service<greeter::GreeterService>({.inline_handlers = true});
  server.add_service<DrillService>();
  server.add_service<AsyncDrillService>();
  const char* fail = std::getenv("GRYPHON_TEST_FAIL_START");
  const char* fail_if = std::getenv("GRYPHON_TEST_FAIL_START_IF");
  const char* delay = std::getenv("GRYPHON_TEST_START_DELAY_MS");
  server.on_worker_start([always = fail != nullptr && std::string(fail) == "1",
                          path = std::string(fail_if != nullptr ? fail_if : ""),
                          millis = delay != nullptr ? std::atoi(delay) : 0](int) {
    std::this_thread::sleep_for(std::chrono::milliseconds(millis));
    if (always || (!path.empty() && std::filesystem::exists(path)))
      throw std::runtime_error("the database is unreachable (test)");
  });
  if (const char* init = std::getenv("GRYPHON_TEST_INIT_GRPC_IN_MASTER");
      init != nullptr && std::string(init) == "1") {
    server.before_fork(
        [] { grpc_init(); });  // what the master must never do: it must refuse to fork
  }
  return server.run(argc, argv);
}
