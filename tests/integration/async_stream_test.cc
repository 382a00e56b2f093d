// Async handlers' streams over a real connection (drill_server's AsyncDrill Ticks, Sum and Echo),
// on both transports: server streams that wait hold no pool thread, client streams and bidi
// streams carry every message in order, a client that cancels wakes the writing coroutine, and
// the access log counts a stream's messages as it does a synchronous one's. Clients are gRPC C++
// stubs. 10,000 streams opened and dropped leave the worker's RSS flat.
#include <grpcpp/grpcpp.h>

#include <catch2/catch.hpp>
#include <algorithm>
#include <chrono>
#include <future>
#include <iostream>
#include <memory>
#include <sstream>
#include <string>
#include <thread>
#include <vector>

#include "async_server.h"
#include "drill.grpc.pb.h"
#include "harness.h"

using namespace gryphon::test;
using Clock = std::chrono::steady_clock;
using std::chrono::milliseconds;
using std::chrono::seconds;

namespace {

struct Streamed {
  grpc::Status status;
  int ticks = 0;
  Clock::time_point ended;
};

Streamed ticks(const std::shared_ptr<grpc::Channel>& channel, int count, int interval_millis,
               int payload_bytes = 0, milliseconds cancel_after = milliseconds(0)) {
  auto stub = AsyncDrill::NewStub(channel);
  grpc::ClientContext context;
  context.set_deadline(std::chrono::system_clock::now() + seconds(30));
  TicksRequest request;
  request.set_count(count);
  request.set_interval_millis(interval_millis);
  request.set_payload_bytes(payload_bytes);
  std::thread canceller;
  if (cancel_after.count() > 0) {
    canceller = std::thread([&context, cancel_after] {
      std::this_thread::sleep_for(cancel_after);
      context.TryCancel();
    });
  }
  auto reader = stub->Ticks(&context, request);
  Streamed streamed;
  for (Tick tick; reader->Read(&tick);) {
    if (tick.index() == streamed.ticks &&
        tick.payload().size() == static_cast<std::size_t>(payload_bytes))
      ++streamed.ticks;
  }
  streamed.status = reader->Finish();
  streamed.ended = Clock::now();
  if (canceller.joinable()) canceller.join();
  return streamed;
}

}  // namespace

TEST_CASE(
    "200 async server streams that wait at once hold no pool thread: --threads 1 serves "
    "them together",
    "[async][streams]") {
  // A synchronous stream holds a pool thread for its whole life: with --threads 1 these would
  // run one at a time (and --max-streaming-calls would refuse most of them).
  AsyncServer server({"--threads", "1"});
  std::vector<std::future<Streamed>> calls;
  for (int i = 0; i < 200; ++i) {
    calls.push_back(
        std::async(std::launch::async, [&] { return ticks(server.channel, 3, 300, 100); }));
  }
  std::vector<Clock::time_point> ends;
  int ok = 0, complete = 0;
  for (auto& call : calls) {
    const Streamed streamed = call.get();
    ok += streamed.status.ok();
    complete += streamed.ticks == 3;
    ends.push_back(streamed.ended);
  }
  const auto [first, last] = std::minmax_element(ends.begin(), ends.end());
  const long spread = std::chrono::duration_cast<milliseconds>(*last - *first).count();
  std::cout << "async streams case: 200 AsyncDrill/Ticks (3 ticks 300 ms apart) at once with "
               "--threads 1: "
            << ok << " OK, " << complete << " with all 3 ticks in order, the last ended " << spread
            << " ms after the first\n";
  CHECK(ok == 200);
  CHECK(complete == 200);
  // One after another they would take 200 × 0.9 s; together, within one wait of each other.
  CHECK(spread < 900);
  CHECK(logged_call(server.access_log, "Ticks", 199)["grpc.code"] == "OK");
}

TEST_CASE("an async client stream and a bidi stream carry every message, in order",
          "[async][streams]") {
  AsyncServer server({"--threads", "1"});
  auto stub = AsyncDrill::NewStub(server.channel);
  {
    grpc::ClientContext context;
    context.set_deadline(std::chrono::system_clock::now() + seconds(30));
    SumReply reply;
    auto writer = stub->Sum(&context, &reply);
    SumPart part;
    int written = 0;
    for (int i = 1; i <= 1000; ++i) {
      part.set_value(i);
      if (!writer->Write(part)) break;  // the call ended: Finish says how
      ++written;
    }
    writer->WritesDone();
    const grpc::Status status = writer->Finish();
    INFO(status.error_code() << " " << status.error_message());
    CHECK(written == 1000);
    CHECK(status.ok());
    CHECK(reply.parts() == 1000);
    CHECK(reply.total() == 500500);
  }
  {
    grpc::ClientContext context;
    context.set_deadline(std::chrono::system_clock::now() + seconds(30));
    auto stream = stub->Echo(&context);
    int echoed = 0;
    Tick tick, back;
    // Ping-pong, then a burst larger than the windows (64 × 64 KiB) read only after it was sent.
    for (int i = 0; i < 200; ++i) {
      tick.set_index(i);
      tick.set_payload(std::string(1024, static_cast<char>('a' + i % 26)));
      REQUIRE(stream->Write(tick));
      REQUIRE(stream->Read(&back));
      echoed += back.index() == i && back.payload() == tick.payload();
    }
    auto burst = std::async(std::launch::async, [&] {
      Tick big;
      big.set_payload(std::string(64 << 10, 'z'));
      for (int i = 0; i < 64; ++i) {
        big.set_index(1000 + i);
        if (!stream->Write(big)) return false;
      }
      return stream->WritesDone();
    });
    int burst_back = 0;
    for (int i = 0; i < 64 && stream->Read(&back); ++i)
      burst_back += back.index() == 1000 + i && back.payload().size() == (64u << 10);
    CHECK(burst.get());
    CHECK_FALSE(stream->Read(&back));  // the server ended the stream after the client's end
    const grpc::Status status = stream->Finish();
    INFO(status.error_message());
    CHECK(status.ok());
    CHECK(echoed == 200);
    CHECK(burst_back == 64);
  }
  // The access log counts a stream's messages both ways, as for a synchronous one.
  auto sum = logged_call(server.access_log, "Sum");
  CHECK(sum["grpc.code"] == "OK");
  auto echo = logged_call(server.access_log, "Echo");
  CHECK(echo["grpc.code"] == "OK");
  INFO("Sum logged: " << sum["grpc.request.messages"] << " in / " << sum["grpc.response.messages"]
                      << " out; Echo: " << echo["grpc.request.messages"] << " / "
                      << echo["grpc.response.messages"]);
  CHECK(sum["grpc.request.messages"] == "1000");
  CHECK(sum["grpc.response.messages"] == "1");
  CHECK(echo["grpc.request.messages"] == "264");
  CHECK(echo["grpc.response.messages"] == "264");
}

TEST_CASE("a client that cancels an async server stream wakes its coroutine at once",
          "[async][streams]") {
  AsyncServer server({"--threads", "1"});
  // 1,000 ticks a second apart: cancelled after 300 ms while the coroutine sleeps.
  const Streamed cancelled = ticks(server.channel, 1000, 1000, 0, milliseconds(300));
  CHECK(cancelled.status.error_code() == grpc::StatusCode::CANCELLED);
  auto logged = logged_call(server.access_log, "Ticks");
  INFO("logged " << logged["grpc.code"] << " after " << logged["grpc.time_ms"] << " ms");
  CHECK(logged["grpc.code"] == "Canceled");
  REQUIRE_FALSE(logged["grpc.time_ms"].empty());
  CHECK(std::stod(logged["grpc.time_ms"]) < 5000);
  // And the worker serves the next stream at once.
  const Streamed next = ticks(server.channel, 2, 10, 10);
  CHECK(next.status.ok());
  CHECK(next.ticks == 2);
}

namespace {

// "VmRSS" of `pid` in bytes (0 once it is gone).
std::uint64_t resident_bytes(pid_t pid) {
  std::istringstream status(read_file("/proc/" + std::to_string(pid) + "/status"));
  for (std::string line; std::getline(status, line);) {
    if (line.rfind("VmRSS:", 0) == 0) return std::stoull(line.substr(6)) << 10;
  }
  return 0;
}

// Opens `batch` Ticks streams at once (a tick every millisecond, for good), reads each one's first
// tick, then cancels them all: the coroutines are cancelled while they sleep or write.
int open_and_drop(AsyncDrill::Stub& stub, int batch) {
  std::vector<std::unique_ptr<grpc::ClientContext>> contexts;
  std::vector<std::unique_ptr<grpc::ClientReader<Tick>>> readers;
  TicksRequest request;
  request.set_count(1 << 30);
  request.set_interval_millis(1);
  for (int i = 0; i < batch; ++i) {
    contexts.push_back(std::make_unique<grpc::ClientContext>());
    contexts.back()->set_deadline(std::chrono::system_clock::now() + seconds(30));
    readers.push_back(stub.Ticks(contexts.back().get(), request));
  }
  int ticked = 0;
  for (auto& reader : readers) {
    Tick tick;
    ticked += reader->Read(&tick) ? 1 : 0;
  }
  for (auto& context : contexts) context->TryCancel();
  for (auto& reader : readers) reader->Finish();
  return ticked;
}

}  // namespace

TEST_CASE("10,000 async streams opened and dropped leave the worker's RSS flat", "[async][churn]") {
  // In the sanitizer build the same loop looks for leaks and use-after-free (LeakSanitizer runs
  // as the worker exits); its RSS is not compared there, as ASan's quarantine keeps freed memory.
  AsyncServer server;
  const pid_t worker = ready_workers(server.process).at(0);
  auto stub = AsyncDrill::NewStub(server.channel);
  constexpr int kBatch = 100, kWarmUp = 10, kRounds = 100;
  int ticked = 0;
  for (int round = 0; round < kWarmUp; ++round) ticked += open_and_drop(*stub, kBatch);
  const std::uint64_t warm = resident_bytes(worker);
  const auto started = Clock::now();
  for (int round = kWarmUp; round < kRounds; ++round) ticked += open_and_drop(*stub, kBatch);
  const std::uint64_t after = resident_bytes(worker);
  const double took = std::chrono::duration<double>(Clock::now() - started).count();
  std::cout << "churn: " << kRounds * kBatch << " async streams opened and dropped; worker RSS "
            << (warm >> 10) << " KiB after " << kWarmUp * kBatch << ", " << (after >> 10)
            << " KiB after " << kRounds * kBatch << " (" << took << " s for the last "
            << (kRounds - kWarmUp) * kBatch << ")\n";
  CHECK(ticked == kRounds * kBatch);
  // Every one of them ended and was logged, cancelled by its client.
  const auto cancelled = [&] {
    std::istringstream text(read_file(server.access_log));
    int count = 0;
    for (std::string line; std::getline(text, line);) {
      auto fields = access_log_fields(line, "json");
      count += fields["grpc.method"] == "Ticks" && fields["grpc.code"] == "Canceled";
    }
    return count;
  };
  REQUIRE(wait_until([&] { return cancelled() == kRounds * kBatch; }, seconds(10)));
#if !defined(__SANITIZE_ADDRESS__)
  // A leak of even 1 KiB per stream would be +8.8 MiB over these 9,000.
  CHECK(after < warm + (4u << 20));
#endif
  // And the worker serves on.
  CHECK(ticks(server.channel, 2, 10).ticks == 2);
  CHECK(ready_workers(server.process).at(0) == worker);
}
