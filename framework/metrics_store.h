// MetricsStore: gRPC server metrics for all workers, in per-slot shared memory.
//
// The master creates one fixed-size segment per slot (an anonymous shared mapping, before the
// slot's first fork) and keeps it for its whole life, across every restart of that slot. A worker
// finds its slot's segment already mapped and writes relaxed atomic counters into it — started,
// handled by code, messages in and out, a latency histogram — before each status goes back to
// gRPC. The master sums the segments when /metrics is scraped. So an RPC a client saw complete is
// counted even if its worker is killed with SIGKILL right after, every counter is monotonic for
// the master's life, and storage is bounded by slots × methods, not by how many pids ever ran.
// A scrape only reads atomics: it never blocks a worker.
#pragma once

#include <grpcpp/support/status.h>

#include <atomic>
#include <cstdint>
#include <memory>
#include <string>
#include <vector>

#include "gryphon/handler.h"
#include "gryphon/server.h"

namespace gryphon::internal {

inline constexpr int kStatusCodes = 17;  // grpc::StatusCode OK..UNAUTHENTICATED
inline constexpr std::size_t kMaxBuckets = 32;

// The default grpc_server_handling_seconds buckets, 5 ms to 10 s.
const std::vector<double>& default_buckets();

// One method's counters inside a slot segment.
struct MethodCounters {
  std::atomic<std::uint64_t> started;
  std::atomic<std::uint64_t> messages_received;
  std::atomic<std::uint64_t> messages_sent;
  std::atomic<std::uint64_t> handled[kStatusCodes];
  std::atomic<std::uint64_t> buckets[kMaxBuckets + 1];  // per bucket, not cumulative; last = +Inf
  std::atomic<std::uint64_t> duration_ns_sum;
};

struct SlotHeader {
  std::atomic<std::uint64_t> dropped_log_lines;
};

class MetricsStore {
 public:
  struct Method {
    std::string service;
    std::string method;
    RpcType type;
  };

  MetricsStore(std::vector<Method> methods, std::vector<double> buckets);
  ~MetricsStore();
  MetricsStore(const MetricsStore&) = delete;
  MetricsStore& operator=(const MetricsStore&) = delete;

  // Maps the slot's segment if it does not exist yet. Call in the master before forking the slot.
  void ensure_slot(int slot);

  // For the worker: the counters of `method` in `slot`, or nullptr for an unknown method.
  MethodCounters* counters(int slot, const std::string& service, const std::string& method);
  SlotHeader* header(int slot);
  const std::vector<double>& buckets() const { return buckets_; }

  // Records one finished call (the worker's hot path).
  void record(MethodCounters& counters, grpc::StatusCode code, std::uint64_t messages_received,
              std::uint64_t messages_sent, std::chrono::nanoseconds duration) const;

  // Prometheus text for every method summed over all slots (go-grpc-prometheus names).
  std::string render() const;
  std::uint64_t dropped_log_lines() const;

 private:
  std::size_t slot_bytes() const;
  MethodCounters* method_at(char* segment, std::size_t index) const;

  std::vector<Method> methods_;
  std::vector<double> buckets_;
  std::vector<long long> bucket_ns_;  // the same bounds in nanoseconds, for record()
  std::vector<char*> segments_;
};

// The store for every method of these services, with the default buckets.
std::unique_ptr<MetricsStore> make_metrics_store(const std::vector<ServiceRegistration>& services);

}  // namespace gryphon::internal
