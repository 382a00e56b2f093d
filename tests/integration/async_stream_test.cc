// Async handlers' streams over a real connection (drill_server's AsyncDrill Ticks, Sum and Echo),
// on both transports: server streams that wait hold no pool thread, client streams and bidi
// streams carry every message in order, a client that cancels wakes the writing coroutine, and
// the access log counts a stream's messages as it does a synchronous one's. Clients are gRPC C++
// stubs.
#include <grpcpp/grpcpp.h>

#include <catch2/catch.hpp>
#include <algorithm>
#include <chrono>
#include <future>
#include <memory>
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
