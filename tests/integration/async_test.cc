// Async handlers over a real connection (drill_server's AsyncDrill), on both transports: calls
// that wait hold no pool thread, a client's cancel and a deadline wake the waiting coroutine at
// once, a coroutine that throws answers INTERNAL and its worker serves on, and the access log sees
// each call as it sees a synchronous one. Clients are gRPC C++ stubs.
#include <grpcpp/grpcpp.h>

#include <catch2/catch.hpp>
#include <algorithm>
#include <chrono>
#include <cstdint>
#include <future>
#include <memory>
#include <map>
#include <sstream>
#include <string>
#include <thread>
#include <vector>

#include "drill.grpc.pb.h"
#include "async_server.h"
#include "harness.h"

using namespace gryphon::test;
using Clock = std::chrono::steady_clock;
using std::chrono::milliseconds;
using std::chrono::seconds;

namespace {

struct Served {
  grpc::Status status;
  Clock::time_point ended;
};

Served async_sleep(const std::shared_ptr<grpc::Channel>& channel, int millis, milliseconds deadline,
                   milliseconds cancel_after = milliseconds(0)) {
  auto stub = gryphon::test::AsyncDrill::NewStub(channel);
  grpc::ClientContext context;
  if (deadline.count() > 0) context.set_deadline(std::chrono::system_clock::now() + deadline);
  gryphon::test::SleepRequest request;
  request.set_millis(millis);
  gryphon::test::SleepReply reply;
  std::thread canceller;
  if (cancel_after.count() > 0) {
    canceller = std::thread([&context, cancel_after] {
      std::this_thread::sleep_for(cancel_after);
      context.TryCancel();
    });
  }
  Served served{stub->Sleep(&context, request, &reply), {}};
  served.ended = Clock::now();
  if (canceller.joinable()) canceller.join();
  return served;
}

}  // namespace

TEST_CASE("200 async calls that wait at once hold no pool thread: --threads 1 serves them together",
          "[async][wait]") {
  AsyncServer server({"--threads", "1"});
  std::vector<std::future<Served>> calls;
  for (int i = 0; i < 200; ++i) {
    calls.push_back(std::async(std::launch::async,
                               [&] { return async_sleep(server.channel, 1000, seconds(30)); }));
  }
  std::vector<Clock::time_point> ends;
  int ok = 0;
  for (auto& call : calls) {
    const Served served = call.get();
    ok += served.status.ok();
    ends.push_back(served.ended);
  }
  const auto [first, last] = std::minmax_element(ends.begin(), ends.end());
  const long spread = std::chrono::duration_cast<milliseconds>(*last - *first).count();
  std::cout << "async case: 200 AsyncDrill/Sleep(1s) at once with --threads 1: " << ok
            << " OK, the last ended " << spread << "ms after the first\n";
  CHECK(ok == 200);
  // On one pool thread they would end 1 s apart, one after another (199 s between first and
  // last): together, they end within a fraction of one wait of each other.
  CHECK(spread < 1000);
}

TEST_CASE("20,000 short async calls over 8 connections: every one OK, the worker never replaced",
          "[async][load]") {
  AsyncServer server;
  const auto workers = children_of(server.process.pid());
  std::vector<std::future<int>> clients;
  for (int c = 0; c < 8; ++c) {
    clients.push_back(std::async(std::launch::async, [&server, c] {
      grpc::ChannelArguments args;
      args.SetInt("gryphon.test.connection", c);  // a connection of its own
      auto channel = grpc::CreateCustomChannel(server.process.target(),
                                               grpc::InsecureChannelCredentials(), args);
      auto stub = gryphon::test::AsyncDrill::NewStub(channel);
      grpc::CompletionQueue queue;
      constexpr int kCalls = 2500, kInFlight = 64;
      struct Call {
        grpc::ClientContext context;
        gryphon::test::SleepReply reply;
        grpc::Status status;
        std::unique_ptr<grpc::ClientAsyncResponseReader<gryphon::test::SleepReply>> reader;
      };
      std::vector<std::unique_ptr<Call>> calls(kCalls);
      gryphon::test::SleepRequest request;
      request.set_millis(1);
      int started = 0, ok = 0;
      const auto start = [&](int at) {
        calls[at] = std::make_unique<Call>();
        calls[at]->context.set_deadline(std::chrono::system_clock::now() + seconds(30));
        calls[at]->reader = stub->AsyncSleep(&calls[at]->context, request, &queue);
        calls[at]->reader->Finish(&calls[at]->reply, &calls[at]->status,
                                  reinterpret_cast<void*>(static_cast<std::intptr_t>(at)));
      };
      for (; started < kInFlight; ++started) start(started);
      void* tag = nullptr;
      bool done = false;
      for (int finished = 0; finished < kCalls && queue.Next(&tag, &done); ++finished) {
        const auto at = static_cast<int>(reinterpret_cast<std::intptr_t>(tag));
        ok += calls[at]->status.ok();
        calls[at].reset();
        if (started < kCalls) start(started++);
      }
      return ok;
    }));
  }
  int ok = 0;
  for (auto& client : clients) ok += client.get();
  std::cout << "async case: 20,000 AsyncDrill/Sleep(1ms), 64 in flight on each of 8 connections: "
            << ok << " OK\n";
  CHECK(ok == 20000);
  CHECK(children_of(server.process.pid()) == workers);  // none died and was replaced
}

TEST_CASE("a client's cancel and a deadline wake an awaiting async handler at once",
          "[async][cancel]") {
  // The server's own deadline (a client deadline would race the client's cancel at its end).
  AsyncServer server({"--default-deadline", "300ms"});
  const Served cancelled = async_sleep(server.channel, 20000, seconds(30), milliseconds(200));
  CHECK(cancelled.status.error_code() == grpc::StatusCode::CANCELLED);
  const Served late = async_sleep(server.channel, 20000, milliseconds(0));
  CHECK(late.status.error_code() == grpc::StatusCode::DEADLINE_EXCEEDED);
  // The server saw each end when it happened, not after the 20 s sleep.
  auto first = logged_call(server.access_log, "Sleep", 0);
  auto second = logged_call(server.access_log, "Sleep", 1);
  INFO("first: " << first["grpc.code"] << " after " << first["grpc.time_ms"] << " ms; second: "
                 << second["grpc.code"] << " after " << second["grpc.time_ms"] << " ms");
  CHECK(first["grpc.code"] == "Canceled");
  CHECK(second["grpc.code"] == "DeadlineExceeded");
  REQUIRE_FALSE(first["grpc.time_ms"].empty());
  REQUIRE_FALSE(second["grpc.time_ms"].empty());
  CHECK(std::stod(first["grpc.time_ms"]) < 5000);
  CHECK(std::stod(second["grpc.time_ms"]) < 5000);
}

TEST_CASE("an async handler that throws answers INTERNAL and its worker serves on",
          "[async][throw]") {
  AsyncServer server;
  auto stub = gryphon::test::AsyncDrill::NewStub(server.channel);
  grpc::ClientContext context;
  gryphon::test::ThrowRequest request;
  request.set_message("the cache is gone (test)");
  gryphon::test::ThrowReply reply;
  const grpc::Status status = stub->Throw(&context, request, &reply);
  CHECK(status.error_code() == grpc::StatusCode::INTERNAL);
  CHECK(status.error_message() == "internal error");
  CHECK(server.process.wait_for_log("the cache is gone (test)", milliseconds(5000)));
  CHECK(async_sleep(server.channel, 10, seconds(10)).status.ok());
  CHECK(logged_call(server.access_log, "Throw")["grpc.code"] == "Internal");
}
