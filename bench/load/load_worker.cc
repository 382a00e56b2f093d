#include "load_worker.h"

#include <grpc/support/time.h>
#include <sys/prctl.h>

#include <algorithm>
#include <thread>
#include <utility>

namespace gryphon::bench {

// An open-loop RPC that starts this much after its scheduled time is counted as late: the
// generator (or --max-in-flight) could not keep the schedule, and its latency includes the delay.
static constexpr Clock::duration kLateStart = std::chrono::milliseconds(1);
// The longest the completion thread sleeps in the queue before it looks at the clock again.
static constexpr Clock::duration kMaxWait = std::chrono::seconds(1);
// Timer slack of the pacing thread: Linux lets a sleep overrun by 50 µs by default.
static constexpr unsigned long kPacingTimerSlackNs = 1000;

LoadWorker::LoadWorker(WorkerPlan plan)
    : plan_(std::move(plan)),
      steady_origin_(Clock::now()),
      gpr_origin_(gpr_now(GPR_CLOCK_MONOTONIC)) {
  for (const auto& channel : plan_.channels) {
    stubs_.push_back(std::make_unique<grpc::GenericStub>(channel));
  }
  bool open_loop = plan_.rate > 0;
  slots_ = std::vector<Slot>(
      static_cast<std::size_t>(open_loop ? plan_.max_in_flight : plan_.concurrency));
  for (std::size_t i = 0; i < slots_.size(); ++i) {
    slots_[i].channel = i % stubs_.size();
  }
}

gpr_timespec LoadWorker::gpr_deadline(Clock::time_point at) const {
  auto nanos = std::chrono::duration_cast<std::chrono::nanoseconds>(at - steady_origin_).count();
  return gpr_time_add(gpr_origin_, gpr_time_from_nanos(nanos, GPR_TIMESPAN));
}

void LoadWorker::run() {
  if (plan_.rate > 0) {
    run_open_loop();
  } else {
    run_closed_loop();
  }
  result_.late_starts = late_starts_;
  drain_queue();
  progress_.done.store(true);
}

bool LoadWorker::may_start(Clock::time_point intended) const {
  if (plan_.requests > 0) {
    return intended < plan_.measure_start || measured_started_ < plan_.requests;
  }
  return intended < plan_.stop;
}

void LoadWorker::start(Slot& slot, Clock::time_point intended) {
  slot.reader.reset();
  slot.context.emplace();
  slot.intended = intended;
  slot.in_flight = true;
  if (intended >= plan_.measure_start) {
    ++measured_started_;
  }
  slot.reader =
      stubs_[slot.channel]->PrepareUnaryCall(&*slot.context, plan_.method, plan_.request, &cq_);
  slot.reader->StartCall();
  slot.reader->Finish(&slot.response, &slot.status, &slot);
}

void LoadWorker::complete(Slot& slot, Clock::time_point now) {
  slot.in_flight = false;
  auto latency = static_cast<std::uint64_t>(std::max<std::int64_t>(
      0, std::chrono::duration_cast<std::chrono::nanoseconds>(now - slot.intended).count()));
  int code = static_cast<int>(slot.status.error_code());
  if (code < 0 || code >= kStatusCodeCount) {
    code = grpc::StatusCode::UNKNOWN;
  }
  progress_.completed.store(++completed_, std::memory_order_relaxed);
  progress_.latency_ns_sum.store(latency_ns_sum_ += latency, std::memory_order_relaxed);
  if (code != grpc::StatusCode::OK) {
    progress_.failed.store(++failed_, std::memory_order_relaxed);
  }
  if (slot.intended >= plan_.measure_start) {
    result_.latency_ns.record(latency);
    ++result_.by_code[code];
    ++result_.measured;
    result_.response_bytes += slot.response.Length();
    result_.last_completion = now;
  }
  slot.response.Clear();
}

void LoadWorker::cancel_in_flight() {
  for (Slot& slot : slots_) {
    if (slot.in_flight) {
      slot.context->TryCancel();
    }
  }
  cancelled_ = true;
}

void LoadWorker::run_closed_loop() {
  Clock::time_point now = Clock::now();
  bool starting = true;
  for (Slot& slot : slots_) {
    if (may_start(now)) {
      start(slot, now);
      ++in_flight_;
    }
  }
  auto stop_starting = [&](Clock::time_point at) {
    starting = false;
    stopped_at_ = at;
  };
  if (in_flight_ == 0) {
    stop_starting(now);
  }
  while (starting || in_flight_ > 0) {
    Clock::time_point wakeup = now + kMaxWait;
    if (!starting) {
      if (!cancelled_ && now - stopped_at_ >= plan_.drain_timeout) {
        cancel_in_flight();
      }
      if (!cancelled_) {
        wakeup = std::min(wakeup, stopped_at_ + plan_.drain_timeout);
      }
    } else if (plan_.requests == 0) {
      wakeup = std::min(wakeup, plan_.stop);
    }
    void* tag = nullptr;
    bool ok = false;
    grpc::CompletionQueue::NextStatus status = cq_.AsyncNext(&tag, &ok, gpr_deadline(wakeup));
    now = Clock::now();
    if (status != grpc::CompletionQueue::GOT_EVENT) {
      if (starting && !may_start(now)) {
        stop_starting(now);
      }
      continue;
    }
    Slot& slot = *static_cast<Slot*>(tag);
    complete(slot, now);
    --in_flight_;
    if (starting && may_start(now)) {
      start(slot, now);
      ++in_flight_;
    } else if (starting) {
      stop_starting(now);
    }
  }
}

void LoadWorker::run_open_loop() {
  for (Slot& slot : slots_) {
    idle_.push_back(&slot);
  }
  std::thread pacer([this] { pace(); });
  Clock::time_point now = Clock::now();
  while (true) {
    bool pacing_done = pacing_done_.load(std::memory_order_acquire);
    if (pacing_done && outstanding_.load() == 0) {
      break;
    }
    Clock::time_point wakeup = now + kMaxWait;
    if (pacing_done && !cancelled_) {
      if (now - stopped_at_ >= plan_.drain_timeout) {
        cancel_in_flight();
      } else {
        wakeup = std::min(wakeup, stopped_at_ + plan_.drain_timeout);
      }
    }
    void* tag = nullptr;
    bool ok = false;
    grpc::CompletionQueue::NextStatus status = cq_.AsyncNext(&tag, &ok, gpr_deadline(wakeup));
    now = Clock::now();
    if (status != grpc::CompletionQueue::GOT_EVENT || tag == &pacing_done_alarm_) {
      continue;
    }
    Slot& slot = *static_cast<Slot*>(tag);
    complete(slot, now);
    outstanding_.fetch_sub(1);
    return_idle_slot(slot);
  }
  pacer.join();
}

void LoadWorker::pace() {
  prctl(PR_SET_TIMERSLACK, kPacingTimerSlackNs);
  for (std::uint64_t i = 0;; ++i) {
    double offset_ns = static_cast<double>(i) * 1e9 / plan_.rate;
    Clock::time_point intended =
        plan_.start + plan_.phase + std::chrono::nanoseconds(static_cast<std::int64_t>(offset_ns));
    if (!may_start(intended)) {
      break;
    }
    std::this_thread::sleep_until(intended);
    Slot& slot = take_idle_slot();
    if (Clock::now() - intended > kLateStart && intended >= plan_.measure_start) {
      ++late_starts_;
    }
    slot.channel = next_channel_++ % stubs_.size();
    outstanding_.fetch_add(1);
    start(slot, intended);
  }
  stopped_at_ = Clock::now();
  pacing_done_.store(true, std::memory_order_release);
  pacing_done_alarm_.Set(&cq_, gpr_now(GPR_CLOCK_MONOTONIC), &pacing_done_alarm_);
}

LoadWorker::Slot& LoadWorker::take_idle_slot() {
  std::unique_lock lock(idle_mutex_);
  while (idle_.empty()) {
    pacer_waiting_ = true;
    idle_freed_.wait(lock);
    pacer_waiting_ = false;
  }
  Slot* slot = idle_.back();
  idle_.pop_back();
  return *slot;
}

void LoadWorker::return_idle_slot(Slot& slot) {
  bool wake = false;
  {
    std::lock_guard lock(idle_mutex_);
    idle_.push_back(&slot);
    wake = pacer_waiting_;
  }
  if (wake) {
    idle_freed_.notify_one();
  }
}

void LoadWorker::drain_queue() {
  for (Slot& slot : slots_) {
    slot.reader.reset();
    slot.context.reset();
  }
  cq_.Shutdown();
  void* tag = nullptr;
  bool ok = false;
  while (cq_.Next(&tag, &ok)) {
  }
}

}  // namespace gryphon::bench
