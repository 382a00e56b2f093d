#include "run.h"

#include <algorithm>
#include <chrono>
#include <iomanip>
#include <iostream>
#include <optional>
#include <sstream>
#include <thread>

#include "process_stats.h"

namespace gryphon::bench {
namespace {

constexpr auto kProgressInterval = std::chrono::seconds(1);
constexpr auto kPollInterval = std::chrono::milliseconds(20);

Clock::duration seconds(double value) {
  return std::chrono::duration_cast<Clock::duration>(std::chrono::duration<double>(value));
}

// Splits `total` into `parts` shares that differ by at most one; share `index`.
std::uint64_t share(std::uint64_t total, std::uint64_t parts, std::uint64_t index) {
  return total / parts + (index < total % parts ? 1 : 0);
}

struct Progress {
  std::uint64_t completed = 0;
  std::uint64_t failed = 0;
  std::uint64_t latency_ns = 0;
};

Progress sum_progress(const std::vector<std::unique_ptr<LoadWorker>>& workers) {
  Progress sum;
  for (const auto& worker : workers) {
    sum.completed += worker->progress().completed.load(std::memory_order_relaxed);
    sum.failed += worker->progress().failed.load(std::memory_order_relaxed);
    sum.latency_ns += worker->progress().latency_ns_sum.load(std::memory_order_relaxed);
  }
  return sum;
}

void print_progress(double since_start, bool measuring, const Progress& now, const Progress& before,
                    double interval) {
  std::uint64_t completed = now.completed - before.completed;
  double mean_ms = completed ? (now.latency_ns - before.latency_ns) / 1e6 / completed : 0.0;
  std::ostringstream line;
  line << std::fixed << "[" << std::setw(5) << std::setprecision(1) << since_start << "s] "
       << (measuring ? "measure" : "warm-up") << "  " << std::setw(9) << std::setprecision(0)
       << completed / interval << " RPC/s  mean " << std::setprecision(3) << mean_ms
       << " ms  failed " << now.failed << "\n";
  std::cerr << line.str();
}

// The CPU readings at the start of the measured window.
struct WindowStart {
  Clock::time_point at;
  double client_cpu_seconds = 0;
};

WindowStart open_window(const LoadOptions& options, RunReport* report) {
  WindowStart window{Clock::now(), self_cpu_seconds()};
  if (!options.server_pids.empty()) {
    report->server_before = sample_server(options.server_pids, &report->server_error);
  }
  return window;
}

void close_window(const LoadOptions& options, const WindowStart& window, RunReport* report) {
  report->client_cpu_seconds = self_cpu_seconds() - window.client_cpu_seconds;
  report->window_seconds = std::chrono::duration<double>(Clock::now() - window.at).count();
  if (report->server_before) {
    report->server_after = sample_server(options.server_pids, &report->server_error);
  }
}

}  // namespace

std::vector<WorkerPlan> plan_workers(const LoadOptions& options,
                                     const std::vector<std::shared_ptr<grpc::Channel>>& channels,
                                     const std::string& payload, Clock::time_point start) {
  grpc::Slice slice(payload.data(), payload.size());
  grpc::ByteBuffer request(&slice, 1);
  auto threads = static_cast<std::uint64_t>(options.threads);
  std::vector<WorkerPlan> plans(threads);
  for (std::uint64_t t = 0; t < threads; ++t) {
    WorkerPlan& plan = plans[t];
    plan.method = options.method;
    plan.request = request;
    plan.start = start;
    plan.measure_start = start + seconds(options.warmup_seconds);
    plan.stop = options.requests > 0 ? Clock::time_point::max()
                                     : plan.measure_start + seconds(options.duration_seconds);
    // Connection j belongs to worker j % threads and carries its share of the RPCs in flight.
    plan.concurrency = 0;
    for (std::size_t j = t; j < channels.size(); j += threads) {
      plan.channels.push_back(channels[j]);
      plan.concurrency += static_cast<int>(share(options.concurrency, channels.size(), j));
    }
    if (options.open_loop()) {
      // Worker t takes every threads-th RPC of the schedule: start + (t + k * threads) / rate.
      plan.rate = options.rate / static_cast<double>(threads);
      plan.phase = seconds(static_cast<double>(t) / options.rate);
      plan.max_in_flight = static_cast<int>(share(options.max_in_flight, threads, t));
    }
    plan.requests = share(options.requests, threads, t);
  }
  return plans;
}

RunReport run_workers(const LoadOptions& options, std::vector<WorkerPlan> plans,
                      std::size_t payload_bytes) {
  Clock::time_point start = plans.front().start;
  Clock::time_point measure_start = plans.front().measure_start;
  std::vector<std::unique_ptr<LoadWorker>> workers;
  for (WorkerPlan& plan : plans) {
    workers.push_back(std::make_unique<LoadWorker>(std::move(plan)));
  }
  std::vector<std::thread> threads;
  for (auto& worker : workers) {
    threads.emplace_back([&worker] { worker->run(); });
  }

  RunReport report;
  report.options = options;
  report.payload_bytes = payload_bytes;
  std::optional<WindowStart> window;
  Clock::time_point next_tick = start + kProgressInterval;
  Progress printed;
  auto all_done = [&] {
    return std::all_of(workers.begin(), workers.end(),
                       [](const auto& worker) { return worker->progress().done.load(); });
  };
  while (!all_done()) {
    Clock::time_point now = Clock::now();
    std::this_thread::sleep_until(window ? now + kPollInterval
                                         : std::min(now + kPollInterval, measure_start));
    now = Clock::now();
    if (!window && now >= measure_start) {
      window = open_window(options, &report);
    }
    if (options.progress && now >= next_tick) {
      Clock::time_point interval_start = next_tick - kProgressInterval;
      Progress current = sum_progress(workers);
      print_progress(std::chrono::duration<double>(now - start).count(),
                     interval_start + (now - interval_start) / 2 >= measure_start, current, printed,
                     std::chrono::duration<double>(now - interval_start).count());
      printed = current;
      next_tick = now + kProgressInterval;
    }
  }
  for (auto& thread : threads) {
    thread.join();
  }
  if (!window) {
    window = open_window(options, &report);
  }
  close_window(options, *window, &report);

  Clock::time_point last_completion = measure_start;
  for (const auto& worker : workers) {
    const WorkerResult& result = worker->result();
    report.latency_ns.merge(result.latency_ns);
    for (int code = 0; code < kStatusCodeCount; ++code) {
      report.by_code[code] += result.by_code[code];
    }
    report.measured += result.measured;
    report.late_starts += result.late_starts;
    report.response_bytes += result.response_bytes;
    last_completion = std::max(last_completion, result.last_completion);
  }
  Progress total = sum_progress(workers);
  report.ok_all_phases = total.completed - total.failed;
  report.elapsed_seconds = std::chrono::duration<double>(last_completion - measure_start).count();
  return report;
}

}  // namespace gryphon::bench
