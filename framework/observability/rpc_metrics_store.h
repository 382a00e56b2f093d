// RpcMetricsStore: gRPC server metrics for all workers, in per-slot shared memory.
//
// The master creates one fixed-size segment per slot (a memfd mapped shared, before the slot's
// first fork) and keeps it for its whole life, across every restart of that slot. A worker finds
// its slot's segment already mapped and writes relaxed atomic counters into it — started, handled
// by code, messages in and out, a latency histogram — before each status goes back to the
// transport (and so to the client). The
// master sums the segments when /metrics is scraped. So an RPC a client saw complete is counted
// even if its worker is killed with SIGKILL right after, every counter is monotonic, and storage
// is bounded by slots × methods, not by how many pids ever ran. A scrape only reads atomics.
//
// Segments describe themselves: a header with the bucket bounds, a directory of the methods laid
// out in it, and a fixed number of rows for methods the server does not have (named by the first
// worker that sees each, the last row being the `unknown` overflow, so a scanner cannot grow the
// label set). That is what lets a binary upgrade (USR2) keep the totals: the old master passes
// its segment descriptors to the new one, which keeps writing into those whose layout matches its
// own and sums the others by name for the rest of its life.
#pragma once

#include <grpcpp/support/status.h>

#include <atomic>
#include <chrono>
#include <cstdint>
#include <memory>
#include <string>
#include <string_view>
#include <vector>

#include "gryphon/handler.h"
#include "gryphon/server.h"

namespace gryphon::internal {

inline constexpr int kStatusCodes = 17;  // grpc::StatusCode OK..UNAUTHENTICATED
inline constexpr std::size_t kMaxBuckets = 32;
// Rows per slot for calls to methods the server does not have; the last one is `unknown`.
inline constexpr std::size_t kUnknownMethodRows = 32;
inline constexpr std::size_t kMaxNameBytes =
    100;  // longer service or method names count as unknown

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

struct SlotHeader;

// The labels of one method's rows: what the master lays out before it forks.
struct MethodLabels {
  std::string service;
  std::string method;
  RpcType type;
};

class RpcMetricsStore {
 public:
  RpcMetricsStore(std::vector<MethodLabels> methods, std::vector<double> buckets);
  ~RpcMetricsStore();
  RpcMetricsStore(const RpcMetricsStore&) = delete;
  RpcMetricsStore& operator=(const RpcMetricsStore&) = delete;

  // Creates the slot's segment if it does not exist yet. Call in the master before forking the
  // slot.
  void ensure_slot(int slot);

  // For the worker: the counters of `method` in `slot`. A method the store was not built with gets
  // a row of the slot's unknown-method table (claimed on first use; `unknown` once it is full or
  // the name is not a plain proto name). nullptr only when the slot has no segment.
  MethodCounters* counters(int slot, std::string_view service, std::string_view method);
  // The slot's count of access-log lines dropped because the writer fell behind.
  std::atomic<std::uint64_t>* dropped_log_lines(int slot);

  // Records one finished call (the worker's hot path).
  void record(MethodCounters& counters, grpc::StatusCode code, std::uint64_t messages_received,
              std::uint64_t messages_sent, std::chrono::nanoseconds duration) const;

  // Prometheus text for every method summed over all segments (go-grpc-prometheus names).
  std::string render() const;
  std::uint64_t dropped_log_lines() const;

  // For a binary upgrade: "slot:fd,slot:fd,…" naming every segment this store holds (inherited
  // ones that could not be adopted as slot -1). The caller clears FD_CLOEXEC on fds() in the child
  // it execs.
  std::string describe_for_inheritance() const;
  std::vector<int> fds() const;
  // Takes over the segments described by `inherited`: those laid out as this store would lay them
  // out serve as its slots again; the others are summed by name. Throws std::runtime_error on a
  // description or segment it cannot use.
  void adopt(const std::string& inherited);

 private:
  struct Segment;
  std::size_t segment_bytes() const;
  void create_segment(int slot);
  Segment* slot_segment(int slot) const;

  std::vector<MethodLabels> methods_;
  std::vector<double> buckets_;
  std::vector<long long> bucket_ns_;  // the same bounds in nanoseconds, for record()
  std::uint64_t layout_hash_ = 0;
  std::vector<std::unique_ptr<Segment>> slots_;    // index = slot; null until created
  std::vector<std::unique_ptr<Segment>> foreign_;  // inherited with another layout: read only
};

// The store for every method of these services, with the default buckets.
std::unique_ptr<RpcMetricsStore> make_metrics_store(
    const std::vector<ServiceRegistration>& services);

}  // namespace gryphon::internal
