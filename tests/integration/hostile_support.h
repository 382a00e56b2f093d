// What the hostile-input suites share (hostile_wire_test.cc, hostile_timers_test.cc,
// hostile_load_test.cc, one binary): a two-worker drill server per case, the calls a case makes,
// the report line every case prints, and the check that every worker still serves afterwards.
#pragma once

#include <sys/resource.h>

#include <catch2/catch.hpp>
#include <atomic>
#include <chrono>
#include <future>
#include <iostream>
#include <map>
#include <memory>
#include <set>
#include <string>
#include <vector>

#include <grpcpp/generic/generic_stub.h>
#include <grpcpp/grpcpp.h>

#include "drill.grpc.pb.h"
#include "greeter.grpc.pb.h"
#include "grpc_status_name.h"
#include "harness.h"
#include "raw_http2.h"

namespace gryphon::test::hostile {

namespace h2 = gryphon::test::http2;
using Clock = std::chrono::steady_clock;
using std::chrono::milliseconds;
using std::chrono::seconds;

inline long ms_since(Clock::time_point since) {
  return std::chrono::duration_cast<milliseconds>(Clock::now() - since).count();
}

inline std::string describe(const grpc::Status& status) {
  return status.ok()
             ? "OK"
             : grpc_status_name(status.error_code()) + " \"" + status.error_message() + "\"";
}

inline void report(const std::string& hostile_case, const std::string& answer) {
  std::cout << "hostile case: " << hostile_case << "\n    server answered: " << answer << "\n"
            << std::flush;
}

// A two-worker drill server on a loopback port it picks. Connections are not rotated within a
// case (max-connection-age 60s), so a channel stays on the worker that accepted it.
class Instance {
 public:
  explicit Instance(const std::vector<std::string>& extra)
      : process_(binary_path("GRYPHON_DRILL_SERVER"), args(extra)) {
    process_.wait_ready();
    REQUIRE(wait_until([&] { return children_of(process_.pid()).size() == 2; }, seconds(10)));
    const auto children = children_of(process_.pid());
    workers_ = std::set<pid_t>(children.begin(), children.end());
  }

  const std::string& target() const { return process_.target(); }
  pid_t pid() const { return process_.pid(); }
  const std::set<pid_t>& workers() const { return workers_; }
  void set_workers(std::set<pid_t> workers) { workers_ = std::move(workers); }
  std::string log() const { return process_.log(); }
  std::map<std::string, double> scrape() const {
    return parse_metrics(http_get(process_.ready().metrics, "/metrics"));
  }

  // The sum of every sample whose key starts with `prefix`, e.g. "gryphon_connections{".
  double sum(const std::string& prefix) const {
    double total = 0;
    const auto metrics = scrape();
    require_family(metrics, prefix.substr(0, prefix.find('{')));
    for (const auto& [key, value] : metrics) total += key.rfind(prefix, 0) == 0 ? value : 0;
    return total;
  }

 private:
  static std::vector<std::string> args(const std::vector<std::string>& extra) {
    std::vector<std::string> all{
        "--listen",           "127.0.0.1:0", "--metrics-address",    "127.0.0.1:0",
        "--workers",          "2",           "--max-connection-age", "60s",
        "--shutdown-timeout", "5s"};
    all.insert(all.end(), extra.begin(), extra.end());
    return all;
  }

  ServerProcess process_;
  std::set<pid_t> workers_;
};

// A channel of its own: a distinct channel argument keeps gRPC from sharing a subchannel.
inline std::shared_ptr<grpc::Channel> fresh_channel(const std::string& target) {
  static std::atomic<int> counter{0};
  grpc::ChannelArguments args;
  args.SetInt("gryphon.test.unique", ++counter);
  return grpc::CreateCustomChannel(target, grpc::InsecureChannelCredentials(), args);
}

struct SleepResult {
  grpc::Status status;
  pid_t pid = 0;
  int slot = -1;
  long ms = 0;
  Clock::time_point ended;
};

inline SleepResult sleep_on(const std::shared_ptr<grpc::Channel>& channel, int millis,
                            milliseconds deadline) {
  auto stub = gryphon::test::Drill::NewStub(channel);
  grpc::ClientContext context;
  context.set_deadline(std::chrono::system_clock::now() + deadline);
  gryphon::test::SleepRequest request;
  request.set_millis(millis);
  gryphon::test::SleepReply reply;
  const auto start = Clock::now();
  SleepResult result;
  result.status = stub->Sleep(&context, request, &reply);
  result.ms = ms_since(start);
  result.ended = Clock::now();
  result.pid = reply.pid();
  result.slot = reply.slot();
  return result;
}

inline grpc::Status say_hello(const std::shared_ptr<grpc::Channel>& channel,
                              const std::string& name,
                              const std::vector<std::pair<std::string, std::string>>& metadata = {},
                              std::string* message = nullptr) {
  auto stub = helloworld::Greeter::NewStub(channel);
  grpc::ClientContext context;
  context.set_deadline(std::chrono::system_clock::now() + seconds(5));
  for (const auto& [key, value] : metadata) context.AddMetadata(key, value);
  helloworld::HelloRequest request;
  request.set_name(name);
  helloworld::HelloReply reply;
  const grpc::Status status = stub->SayHello(&context, request, &reply);
  if (message != nullptr) *message = reply.message();
  return status;
}

// A unary call with an arbitrary request body, through grpc::GenericStub.
inline grpc::Status raw_unary(const std::shared_ptr<grpc::Channel>& channel,
                              const std::string& method, const std::string& body) {
  grpc::GenericStub stub(channel);
  grpc::ClientContext context;
  context.set_deadline(std::chrono::system_clock::now() + seconds(5));
  grpc::Slice slice(body.data(), body.size());
  const grpc::ByteBuffer request(&slice, 1);
  grpc::ByteBuffer response;
  std::promise<grpc::Status> done;
  stub.UnaryCall(&context, method, grpc::StubOptions(), &request, &response,
                 [&done](grpc::Status status) { done.set_value(std::move(status)); });
  return done.get_future().get();
}

// After a hostile case: the master has exactly `instance.workers()`; each of them answers over
// fresh connections with no failure; the master replaced no worker beyond `restarts`; and no
// RPC is left counted in flight.
inline void check_workers_serve(const Instance& instance, const std::string& after,
                                double restarts = 0) {
  INFO("after: " << after);
  const auto children = children_of(instance.pid());
  CHECK(std::set<pid_t>(children.begin(), children.end()) == instance.workers());
  std::set<pid_t> answered;
  std::vector<std::string> failures;
  std::vector<std::shared_ptr<grpc::Channel>>
      held;  // kept open: later connections land elsewhere too
  for (int i = 0; i < 200 && answered.size() < instance.workers().size(); ++i) {
    held.push_back(fresh_channel(instance.target()));
    const SleepResult r = sleep_on(held.back(), 0, seconds(3));
    if (r.status.ok()) {
      answered.insert(r.pid);
    } else {
      failures.push_back(describe(r.status));
    }
    if (held.size() >= 8) held.erase(held.begin());
  }
  std::string message;
  const grpc::Status hello = say_hello(fresh_channel(instance.target()), "after", {}, &message);
  INFO("failures: " << failures.size() << (failures.empty() ? "" : " first: " + failures.front()));
  CHECK(failures.empty());
  CHECK(answered == instance.workers());
  CHECK(hello.ok());
  CHECK(message == "Hello after");
  CHECK(instance.sum("gryphon_worker_restarts_total") == restarts);
  // Nothing stays admitted: every RPC the hostile input started has given its slot back.
  CHECK(wait_until([&] { return instance.sum("gryphon_in_flight_rpcs{") == 0; }, seconds(5),
                   milliseconds(100)));
}

// Raises this process's open-file limit to at least `wanted` (up to the hard limit).
inline void raise_open_files(rlim_t wanted) {
  rlimit limit{};
  REQUIRE(::getrlimit(RLIMIT_NOFILE, &limit) == 0);
  INFO("the hard open-file limit " << limit.rlim_max << " is below " << wanted);
  REQUIRE(limit.rlim_max >= wanted);
  if (limit.rlim_cur < wanted) {
    limit.rlim_cur = wanted;
    REQUIRE(::setrlimit(RLIMIT_NOFILE, &limit) == 0);
  }
}

inline const std::string kSayHello = "/helloworld.Greeter/SayHello";
inline const std::string kHelloRaw("\x0a\x03raw", 5);  // HelloRequest{name: "raw"}

inline const std::string kSleep = "/gryphon.test.Drill/Sleep";
inline const std::string kSleep1s("\x08\xe8\x07", 3);  // SleepRequest{millis: 1000}

// HEADERS and DATA (with END_STREAM) of one unary request on `stream`.
inline std::string request_frames(const std::string& path, const std::string& data,
                                  const std::vector<h2::Header>& extra = {},
                                  std::uint32_t stream = 1) {
  return h2::frame(h2::kHeaders, h2::kEndHeaders, stream,
                   h2::header_block(h2::grpc_request_headers(path, extra))) +
         h2::frame(h2::kData, h2::kEndStream, stream, data);
}

// The client preface, an empty SETTINGS and one request on stream 1, all sent at once: before the
// server's SETTINGS arrive, so they are never acked.
inline std::string raw_request(const std::string& path, const std::string& data,
                               const std::vector<h2::Header>& extra = {}) {
  return std::string(h2::kPreface) + h2::frame(h2::kSettings, 0, 0, "") +
         request_frames(path, data, extra);
}

}  // namespace gryphon::test::hostile
