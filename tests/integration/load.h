// LoadGenerator: continuous unary load for the drills, from a standard gRPC client.
//
// Keeps `in_flight` RPCs outstanding spread over `connections` separate channels (a distinct
// channel argument each, so each is its own TCP connection), on an async completion queue so a
// single thread can push thousands of RPCs into every restart window. No retry policy is
// configured. Every completed RPC is counted as OK or as a failure by status code, with a few
// failure messages kept for the test's report.
#pragma once

#include <grpcpp/generic/generic_stub.h>
#include <grpcpp/grpcpp.h>

#include <atomic>
#include <map>
#include <memory>
#include <mutex>
#include <string>
#include <thread>
#include <vector>

namespace gryphon::test {

struct LoadOptions {
  std::string target;
  int connections = 8;
  int in_flight = 64;
  // "/helloworld.Greeter/SayHello" by default; "/gryphon.test.Drill/Sleep" with sleep_ms.
  std::string method = "/helloworld.Greeter/SayHello";
  int sleep_ms = 0;
  std::chrono::milliseconds deadline{10000};
};

class LoadGenerator {
 public:
  explicit LoadGenerator(LoadOptions options);
  ~LoadGenerator();

  void start();
  // Issues no new RPCs; those in flight complete normally.
  void stop_issuing() { issuing_.store(false); }
  // stop_issuing(), then waits (bounded by the RPC deadline) for every RPC in flight to finish.
  void stop();

  std::uint64_t ok() const { return ok_.load(); }
  std::uint64_t failed() const { return failed_.load(); }
  std::int64_t outstanding() const { return outstanding_.load(); }
  std::map<int, std::uint64_t> failures_by_code() const;
  // "N failed: UNAVAILABLE x3 (first: ...)" for assertion messages.
  std::string report() const;
  // Waits until at least `count` RPCs succeeded.
  bool wait_for_ok(std::uint64_t count, std::chrono::milliseconds timeout) const;
  // start(), then waits for `count` successful RPCs: the load is running before a drill acts.
  bool warm_up(std::uint64_t count, std::chrono::milliseconds timeout = std::chrono::seconds(20));
  // Waits for `count` more successful RPCs than so far: the server still serves.
  bool wait_for_more(std::uint64_t count,
                     std::chrono::milliseconds timeout = std::chrono::seconds(10)) const;

 private:
  struct Call;
  void issue(int channel);
  void complete(Call* call, bool ok);

  LoadOptions options_;
  grpc::ByteBuffer request_;
  std::vector<std::unique_ptr<grpc::GenericStub>> stubs_;
  grpc::CompletionQueue cq_;
  std::thread thread_;
  std::atomic<bool> issuing_{false};
  std::atomic<std::uint64_t> ok_{0};
  std::atomic<std::uint64_t> failed_{0};
  std::atomic<std::int64_t> outstanding_{0};
  mutable std::mutex mutex_;
  std::map<int, std::uint64_t> failures_;
  std::vector<std::string> samples_;
  bool started_ = false;
};

}  // namespace gryphon::test
