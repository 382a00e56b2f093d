// Hostile load and hostile handlers: more RPCs than --max-concurrent-rpcs admits, a handler that
// throws, a handler that crashes its worker. Each case prints what the server answered and then
// checks that every worker still serves, or was replaced once when the case kills one
// (hostile_support.h).
#include <catch2/catch.hpp>
#include <algorithm>
#include <chrono>
#include <cstdlib>
#include <future>
#include <memory>
#include <optional>
#include <random>
#include <set>
#include <string>
#include <vector>

#include "hostile_support.h"
#include "load.h"

using namespace gryphon::test;
using namespace gryphon::test::hostile;

namespace {

TEST_CASE("RPCs over max-concurrent-rpcs fail fast with RESOURCE_EXHAUSTED instead of queueing",
          "[hostile][concurrency]") {
  Instance instance({"--max-concurrent-rpcs", "4", "--threads", "16"});
  const auto channel = fresh_channel(instance.target());  // one connection: one worker
  const SleepResult probe = sleep_on(channel, 0, seconds(5));
  REQUIRE(probe.status.ok());
  const std::string slot = "{slot=\"" + std::to_string(probe.slot) + "\"}";

  std::vector<std::future<SleepResult>> admitted;
  for (int i = 0; i < 4; ++i) {
    admitted.push_back(
        std::async(std::launch::async, [&] { return sleep_on(channel, 3000, seconds(10)); }));
  }
  REQUIRE(
      wait_until([&] { return metric(instance.scrape(), "gryphon_in_flight_rpcs" + slot) == 4; },
                 seconds(5), milliseconds(50)));
  std::vector<std::future<SleepResult>> excess;
  for (int i = 0; i < 4; ++i) {
    excess.push_back(
        std::async(std::launch::async, [&] { return sleep_on(channel, 3000, seconds(10)); }));
  }
  std::string answers;
  std::vector<SleepResult> rejected;
  for (auto& f : excess) {
    rejected.push_back(f.get());
    const SleepResult& r = rejected.back();
    answers += describe(r.status) + " in " + std::to_string(r.ms) + "ms; ";
    CHECK(r.status.error_code() == grpc::StatusCode::RESOURCE_EXHAUSTED);
  }
  for (auto& f : admitted) {
    const SleepResult r = f.get();
    CHECK(r.status.ok());
    CHECK(r.pid == probe.pid);
    // Rejected at once, not queued behind the admitted calls: each answer came before any of
    // them ended (an order, not a time bound a loaded machine could break).
    for (const SleepResult& excess_call : rejected) CHECK(excess_call.ended < r.ended);
  }
  report("8 Drill/Sleep(3s) on one connection, --max-concurrent-rpcs 4",
         "4 admitted and OK after 3s; the other 4: " + answers);
  CHECK(wait_until(
      [&] { return metric(instance.scrape(), "gryphon_rpcs_rejected_total" + slot) == 4; },
      seconds(5), milliseconds(50)));
  CHECK(sleep_on(channel, 0, seconds(5)).status.ok());  // the slots are free again
  check_workers_serve(instance, "max-concurrent-rpcs");
}

TEST_CASE("calls whose deadline passed while they waited for a pool thread never run their handler",
          "[hostile][late]") {
  TempDir dir;
  const std::string access_log = dir.file("access.log");
  Instance instance({"--threads", "1", "--access-log", access_log, "--access-log-format", "json"});
  const auto channel = fresh_channel(instance.target());  // one connection: one worker
  REQUIRE(sleep_on(channel, 0, seconds(5)).status.ok());
  // The worker's one pool thread is busy for 1.5 s; 20 calls of 500 ms each queue behind it with
  // a 300 ms deadline. If their handlers ran once the thread is free, they would hold it 10 s.
  auto blocker =
      std::async(std::launch::async, [&] { return sleep_on(channel, 1500, seconds(10)); });
  REQUIRE(wait_until([&] { return instance.sum("gryphon_in_flight_rpcs{") == 1; }, seconds(5)));
  std::vector<std::future<SleepResult>> late;
  for (int i = 0; i < 20; ++i) {
    late.push_back(
        std::async(std::launch::async, [&] { return sleep_on(channel, 500, milliseconds(300)); }));
  }
  int expired = 0;
  for (auto& call : late) expired += call.get().status.error_code() == grpc::DEADLINE_EXCEEDED;
  CHECK(expired == 20);
  REQUIRE(blocker.get().status.ok());
  // The thread is free at once: the next call is not queued behind 20 dead handlers.
  const SleepResult next = sleep_on(channel, 0, seconds(3));
  report("20 Drill/Sleep(500ms) with 300ms deadlines behind a busy pool thread (--threads 1)",
         std::to_string(expired) + " DEADLINE_EXCEEDED; the next call: " + describe(next.status) +
             " in " + std::to_string(next.ms) + "ms");
  CHECK(next.status.ok());
  CHECK(next.ms < 1500);
  // Each is still logged (and counted), with why it did not run.
  int logged = 0;
  CHECK(wait_until(
      [&] {
        const std::string text = read_file(access_log);
        logged = 0;
        for (auto at = text.find("deadline exceeded before the handler started");
             at != std::string::npos;
             at = text.find("deadline exceeded before the handler started", at + 1))
          ++logged;
        return logged == 20;
      },
      seconds(5), milliseconds(50)));
  INFO("access-log lines that say so: " << logged);
  CHECK(logged == 20);
  check_workers_serve(instance, "late calls");
}

TEST_CASE("a handler that throws gets INTERNAL and its worker lives on", "[hostile][throw]") {
  Instance instance({});
  std::set<std::string> answers;
  for (int i = 0; i < 10; ++i) {  // fresh connections: both workers throw
    auto stub = gryphon::test::Drill::NewStub(fresh_channel(instance.target()));
    grpc::ClientContext context;
    context.set_deadline(std::chrono::system_clock::now() + seconds(5));
    gryphon::test::ThrowRequest request;
    request.set_message("hostile-secret-detail");
    gryphon::test::ThrowReply reply;
    const grpc::Status status = stub->Throw(&context, request, &reply);
    answers.insert(describe(status));
    CHECK(status.error_code() == grpc::StatusCode::INTERNAL);
    CHECK(status.error_message().find("hostile-secret-detail") ==
          std::string::npos);  // not leaked to clients
  }
  std::string joined;
  for (const auto& a : answers) joined += a + " ";
  report("Drill/Throw (std::runtime_error) x10 over fresh connections", joined);
  CHECK(instance.log().find("threw: hostile-secret-detail") != std::string::npos);  // but logged
  check_workers_serve(instance, "handlers that throw");
}

TEST_CASE(
    "a handler that crashes its worker fails only that worker's in-flight RPCs; the master "
    "replaces it",
    "[hostile][crash]") {
  Instance instance({});
  // Two connections pinned on each worker.
  std::map<pid_t, std::vector<std::shared_ptr<grpc::Channel>>> pinned;
  std::map<pid_t, int> slot_of;
  for (int i = 0; i < 200; ++i) {
    if (pinned.size() == 2 && pinned.begin()->second.size() == 2 &&
        pinned.rbegin()->second.size() == 2)
      break;
    auto channel = fresh_channel(instance.target());
    const SleepResult r = sleep_on(channel, 0, seconds(5));
    REQUIRE(r.status.ok());
    slot_of[r.pid] = r.slot;
    if (pinned[r.pid].size() < 2) pinned[r.pid].push_back(channel);
  }
  REQUIRE(pinned.size() == 2);
  const pid_t victim = pinned.begin()->first, survivor = pinned.rbegin()->first;
  REQUIRE(pinned[victim].size() == 2);
  REQUIRE(pinned[survivor].size() == 2);

  std::map<pid_t, std::vector<std::future<SleepResult>>> in_flight;
  for (auto& [pid, channels] : pinned) {
    for (auto& channel : channels) {
      in_flight[pid].push_back(std::async(
          std::launch::async, [channel] { return sleep_on(channel, 3000, seconds(10)); }));
    }
  }
  REQUIRE(wait_until(
      [&] {
        const auto m = instance.scrape();
        for (const auto& [pid, slot] : slot_of) {
          if (metric(m, "gryphon_in_flight_rpcs{slot=\"" + std::to_string(slot) + "\"}") != 2)
            return false;
        }
        return true;
      },
      seconds(5), milliseconds(50)));

  auto stub = gryphon::test::Drill::NewStub(pinned[victim].front());
  grpc::ClientContext context;
  context.set_deadline(std::chrono::system_clock::now() + seconds(5));
  gryphon::test::CrashReply crash_reply;
  const grpc::Status crash = stub->Crash(&context, gryphon::test::CrashRequest(), &crash_reply);

  std::string victim_answers, survivor_answers;
  for (auto& f : in_flight[victim]) {
    const SleepResult r = f.get();
    victim_answers += describe(r.status) + " after " + std::to_string(r.ms) + "ms; ";
    CHECK_FALSE(r.status.ok());
    CHECK(r.status.error_code() == grpc::StatusCode::UNAVAILABLE);
  }
  for (auto& f : in_flight[survivor]) {
    const SleepResult r = f.get();
    survivor_answers += describe(r.status) + " from pid " + std::to_string(r.pid) + "; ";
    CHECK(r.status.ok());
    CHECK(r.pid == survivor);
  }
  pid_t replacement = 0;
  const bool replaced = wait_until(
      [&] {
        replacement = 0;
        const auto children = children_of(instance.pid());
        if (children.size() != 2) return false;
        for (pid_t child : children) {
          if (child == victim) return false;
          if (child != survivor) replacement = child;
        }
        return replacement != 0 && metric(instance.scrape(), "gryphon_workers_ready") == 2;
      },
      seconds(10));
  const auto m = instance.scrape();
  report("Drill/Crash (abort) with 2 Sleep(3s) in flight on each worker",
         "the Crash call: " + describe(crash) + "; in flight on the crashed worker: " +
             victim_answers + "on the other worker: " + survivor_answers + "replacement pid " +
             std::to_string(replacement) + ", gryphon_worker_restarts_total{reason=\"crash\"} = " +
             std::to_string(
                 static_cast<int>(metric(m, "gryphon_worker_restarts_total{reason=\"crash\"}"))));
  INFO(instance.log());
  CHECK(crash.error_code() == grpc::StatusCode::UNAVAILABLE);
  REQUIRE(replaced);
  CHECK(metric(m, "gryphon_worker_restarts_total{reason=\"crash\"}") == 1);
  instance.set_workers({survivor, replacement});
  check_workers_serve(instance, "a crashing handler", /*restarts=*/1);
}

}  // namespace
