// LoadWorker: one share of a gryphon-bench run. It owns a completion queue and drives its
// connections with generic unary calls (the request is a ByteBuffer sent as is; the response is
// never parsed), either closed loop or open loop:
//   closed loop: a fixed number of RPCs in flight, each restarted as soon as it completes; one
//     thread does everything.
//   open loop: RPCs started on a fixed schedule and timed from their scheduled start, so a server
//     that stalls cannot hide the stall by slowing the generator down (no coordinated omission).
//     A pacing thread sleeps until each scheduled start and starts the RPC; the completion thread
//     only collects. (gRPC's completion-queue deadlines have millisecond resolution, too coarse to
//     pace RPCs that take tens of microseconds.)
//
// Cost per RPC matters more than anything else here: the generator shares the machine with the
// server it measures, so the loops allocate nothing of their own, reuse one request buffer and
// touch only their own state, apart from the idle-slot list the two open-loop threads share and
// the progress counters: atomics the completion thread writes and the main thread reads.
#pragma once

#include <grpc/support/time.h>
#include <grpcpp/alarm.h>
#include <grpcpp/generic/generic_stub.h>
#include <grpcpp/grpcpp.h>

#include <array>
#include <atomic>
#include <chrono>
#include <condition_variable>
#include <cstdint>
#include <memory>
#include <mutex>
#include <optional>
#include <string>
#include <vector>

#include "histogram.h"

namespace gryphon::bench {

using Clock = std::chrono::steady_clock;

// gRPC status codes 0..16; failures are counted per code.
inline constexpr int kStatusCodeCount = 17;

struct WorkerPlan {
  std::vector<std::shared_ptr<grpc::Channel>> channels;
  std::string method;
  grpc::ByteBuffer request;
  int concurrency = 0;         // closed loop: RPCs in flight
  double rate = 0;             // open loop: RPCs per second from this worker; 0 = closed loop
  int max_in_flight = 1;       // open loop
  Clock::duration phase{};     // open loop: offset of this worker's schedule
  std::uint64_t requests = 0;  // measured RPCs to start; 0 = start until `stop`
  Clock::time_point start;
  Clock::time_point measure_start;  // RPCs (intended to be) started from here on are measured
  Clock::time_point stop;           // no RPC is started from here on
  // After the last start, RPCs still in flight this much later are cancelled.
  Clock::duration drain_timeout = std::chrono::seconds(5);
};

struct WorkerResult {
  LatencyHistogram latency_ns;  // measured RPCs, OK or not
  std::array<std::uint64_t, kStatusCodeCount> by_code{};
  std::uint64_t measured = 0;
  std::uint64_t response_bytes = 0;
  std::uint64_t late_starts = 0;  // open loop: RPCs started over 1 ms after their schedule
  Clock::time_point last_completion{};
};

// Read by the main thread for the progress line while the worker runs.
struct WorkerProgress {
  std::atomic<std::uint64_t> completed{0};
  std::atomic<std::uint64_t> failed{0};
  std::atomic<std::uint64_t> latency_ns_sum{0};
  std::atomic<bool> done{false};
};

class LoadWorker {
 public:
  explicit LoadWorker(WorkerPlan plan);
  LoadWorker(const LoadWorker&) = delete;
  LoadWorker& operator=(const LoadWorker&) = delete;

  // Runs the plan to the end on the calling thread.
  void run();

  const WorkerResult& result() const { return result_; }
  const WorkerProgress& progress() const { return progress_; }

 private:
  struct Slot {
    std::optional<grpc::ClientContext> context;
    std::unique_ptr<grpc::GenericClientAsyncResponseReader> reader;
    grpc::ByteBuffer response;
    grpc::Status status;
    Clock::time_point intended;
    std::size_t channel = 0;
    bool in_flight = false;
  };

  // Both clocks are CLOCK_MONOTONIC: converting with a fixed offset saves a clock read per wait.
  gpr_timespec gpr_deadline(Clock::time_point at) const;
  void run_closed_loop();
  void run_open_loop();
  void pace();
  bool may_start(Clock::time_point intended) const;
  void start(Slot& slot, Clock::time_point intended);
  void complete(Slot& slot, Clock::time_point now);
  Slot& take_idle_slot();
  void return_idle_slot(Slot& slot);
  void cancel_in_flight();
  void drain_queue();

  WorkerPlan plan_;
  Clock::time_point steady_origin_;
  gpr_timespec gpr_origin_;
  grpc::CompletionQueue cq_;
  std::vector<std::unique_ptr<grpc::GenericStub>> stubs_;
  std::vector<Slot> slots_;
  WorkerResult result_;
  WorkerProgress progress_;

  // Completion thread.
  std::uint64_t completed_ = 0;
  std::uint64_t failed_ = 0;
  std::uint64_t latency_ns_sum_ = 0;
  int in_flight_ = 0;  // closed loop
  bool cancelled_ = false;

  // Starting thread: the completion thread in closed loop, the pacing thread in open loop.
  std::uint64_t measured_started_ = 0;
  std::uint64_t late_starts_ = 0;
  std::size_t next_channel_ = 0;
  Clock::time_point stopped_at_{};  // when the last RPC was started

  // Open loop: shared by the pacing and completion threads.
  std::mutex idle_mutex_;
  std::condition_variable idle_freed_;
  std::vector<Slot*> idle_;
  bool pacer_waiting_ = false;
  std::atomic<std::int64_t> outstanding_{0};
  std::atomic<bool> pacing_done_{false};
  grpc::Alarm pacing_done_alarm_;  // wakes the completion thread when pacing ends
};

}  // namespace gryphon::bench
