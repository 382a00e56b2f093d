// CPU and memory readings that put a load generator's numbers in context: the generator's own CPU
// time (getrusage, all its threads) and a server's CPU time and resident memory, read from
// /proc/PID/stat for each of its processes (a master and its workers are given as several pids).
// A run takes one reading before the measured window and one after; the differences give CPU per
// RPC and utilisation in cores.
#pragma once

#include <cstdint>
#include <optional>
#include <string>
#include <vector>

namespace gryphon::bench {

// CPU seconds (user + system) this process has used so far.
double self_cpu_seconds();

struct ServerSample {
  double cpu_seconds = 0;       // user + system, summed over the pids
  std::uint64_t rss_bytes = 0;  // resident set, summed over the pids (pages shared after fork
                                // are counted once per process)
};

// Reads every pid's /proc/PID/stat; nullopt with `error` set when one cannot be read (it exited).
std::optional<ServerSample> sample_server(const std::vector<int>& pids, std::string* error);

}  // namespace gryphon::bench
