// RunReport: the outcome of one gryphon-bench run and its two renderings, the human table on
// stdout and the JSON file that bench/compare.py reads. Built once, after every worker is done.
#pragma once

#include <array>
#include <cstdint>
#include <optional>
#include <ostream>
#include <string>
#include <vector>

#include "histogram.h"
#include "load_options.h"
#include "load_worker.h"
#include "process_stats.h"

namespace gryphon::bench {

struct RunReport {
  LoadOptions options;
  std::size_t payload_bytes = 0;
  LatencyHistogram latency_ns;
  std::array<std::uint64_t, kStatusCodeCount> by_code{};
  std::uint64_t measured = 0;
  std::uint64_t late_starts = 0;
  std::uint64_t response_bytes = 0;
  std::uint64_t ok_all_phases = 0;  // OK responses including the warm-up: to check a server's count
  double elapsed_seconds = 0;       // start of the measured window to its last completion
  double window_seconds = 0;        // between the two CPU readings
  double client_cpu_seconds = 0;    // this process, all threads, over the window
  std::optional<ServerSample> server_before;
  std::optional<ServerSample> server_after;
  std::string server_error;  // why the server could not be measured, when it could not

  std::uint64_t ok() const { return by_code[0]; }
  std::uint64_t failed() const { return measured - ok(); }
  double throughput() const;
  bool has_server() const { return server_before && server_after; }
};

// Name of a gRPC status code ("OK", "UNAVAILABLE", ...).
const char* status_code_name(int code);

void print_table(const RunReport& report, std::ostream& out);

// Writes the JSON document; false when the file cannot be written.
bool write_json(const RunReport& report, const std::string& path);

}  // namespace gryphon::bench
