// Runtime metrics the master knows from its own supervision and from worker heartbeats:
// gryphon_workers_desired/ready, gryphon_worker_restarts_total{reason}, and per slot in-flight
// RPCs, open connections, RSS and served/rejected RPC totals. Totals stay monotonic for the
// master's life: a worker's last reported counts are absorbed into its slot when it exits.
// Serialised with prometheus-cpp's TextSerializer (no registry, no threads).
#pragma once

#include <sys/types.h>

#include <cstdint>
#include <map>
#include <string>
#include <vector>

#include "control/control_protocol.h"

namespace gryphon::internal {

struct LiveWorker {
  int slot = 0;
  pid_t pid = 0;
  bool ready = false;
  WorkerStats stats;
};

class SupervisorMetrics {
 public:
  void restart(const std::string& reason) { ++restarts_[reason]; }
  void absorb(int slot, const WorkerStats& final_stats);
  std::string render(int desired, const std::vector<LiveWorker>& live) const;

 private:
  std::map<std::string, std::uint64_t> restarts_;
  std::map<int, std::uint64_t> served_;
  std::map<int, std::uint64_t> rejected_;
  std::map<int, std::uint64_t> write_timeouts_;
};

}  // namespace gryphon::internal
