#include "report.h"

#include <fstream>
#include <iomanip>
#include <sstream>

namespace gryphon::bench {

const char* status_code_name(int code) {
  static constexpr std::array<const char*, kStatusCodeCount> kNames = {
      "OK",
      "CANCELLED",
      "UNKNOWN",
      "INVALID_ARGUMENT",
      "DEADLINE_EXCEEDED",
      "NOT_FOUND",
      "ALREADY_EXISTS",
      "PERMISSION_DENIED",
      "RESOURCE_EXHAUSTED",
      "FAILED_PRECONDITION",
      "ABORTED",
      "OUT_OF_RANGE",
      "UNIMPLEMENTED",
      "INTERNAL",
      "UNAVAILABLE",
      "DATA_LOSS",
      "UNAUTHENTICATED",
  };
  return code >= 0 && code < kStatusCodeCount ? kNames[code] : "UNKNOWN";
}

double RunReport::throughput() const {
  return elapsed_seconds > 0 ? static_cast<double>(measured) / elapsed_seconds : 0;
}

static double per_rpc_us(double cpu_seconds, std::uint64_t rpcs) {
  return rpcs == 0 ? 0 : cpu_seconds * 1e6 / static_cast<double>(rpcs);
}

static std::string format_latency(std::uint64_t nanos) {
  std::ostringstream out;
  out << std::fixed;
  if (nanos < 1'000'000) {
    out << std::setprecision(1) << nanos / 1e3 << " µs";
  } else {
    out << std::setprecision(3) << nanos / 1e6 << " ms";
  }
  return out.str();
}

static std::string describe_load(const LoadOptions& options) {
  std::ostringstream out;
  if (options.open_loop()) {
    out << "open loop at " << options.rate << " RPC/s (at most " << options.max_in_flight
        << " in flight)";
  } else {
    out << "closed loop, " << options.concurrency << " in flight";
  }
  out << " over " << options.connections << " connection" << (options.connections == 1 ? "" : "s")
      << ", " << options.threads << " thread" << (options.threads == 1 ? "" : "s");
  return out.str();
}

void print_table(const RunReport& report, std::ostream& out) {
  const LoadOptions& options = report.options;
  out << std::fixed;
  out << "gryphon-bench " << options.method << " on " << options.target << "\n";
  out << "  load          " << describe_load(options) << ", "
      << (options.payload_file.empty() ? options.scenario : options.payload_file) << " ("
      << report.payload_bytes << " B request)\n";
  out << "  measured      " << report.measured << " RPCs in " << std::setprecision(2)
      << report.elapsed_seconds << " s after " << options.warmup_seconds << " s warm-up\n";
  out << "  throughput    " << std::setprecision(1) << report.throughput() << " RPC/s\n";
  const LatencyHistogram& latency = report.latency_ns;
  out << "  latency       p50 " << format_latency(latency.percentile(50)) << "   p90 "
      << format_latency(latency.percentile(90)) << "   p99 "
      << format_latency(latency.percentile(99)) << "   p99.9 "
      << format_latency(latency.percentile(99.9)) << "   max " << format_latency(latency.max())
      << "\n";
  if (options.open_loop()) {
    out << "  late starts   " << report.late_starts << " RPCs started >1 ms after schedule\n";
  }
  out << "  failures      " << report.failed();
  for (int code = 1; code < kStatusCodeCount; ++code) {
    if (report.by_code[code] > 0) {
      out << "   " << status_code_name(code) << " " << report.by_code[code];
    }
  }
  out << "\n";
  out << "  generator     " << std::setprecision(2)
      << per_rpc_us(report.client_cpu_seconds, report.measured) << " µs CPU/RPC, "
      << std::setprecision(1) << 100 * report.client_cpu_seconds / report.window_seconds
      << "% of a core\n";
  if (report.has_server()) {
    double cpu = report.server_after->cpu_seconds - report.server_before->cpu_seconds;
    out << "  server        " << std::setprecision(2) << per_rpc_us(cpu, report.measured)
        << " µs CPU/RPC, " << std::setprecision(1) << 100 * cpu / report.window_seconds
        << "% of a core, RSS " << report.server_after->rss_bytes / 1e6 << " MB\n";
  } else if (!report.server_error.empty()) {
    out << "  server        not measured: " << report.server_error << "\n";
  }
}

static std::string json_string(const std::string& text) {
  std::ostringstream out;
  out << '"';
  for (char c : text) {
    switch (c) {
      case '"': out << "\\\""; break;
      case '\\': out << "\\\\"; break;
      case '\n': out << "\\n"; break;
      default:
        if (static_cast<unsigned char>(c) < 0x20) {
          out << "\\u" << std::hex << std::setw(4) << std::setfill('0') << int(c) << std::dec;
        } else {
          out << c;
        }
    }
  }
  out << '"';
  return out.str();
}

bool write_json(const RunReport& report, const std::string& path) {
  const LoadOptions& options = report.options;
  const LatencyHistogram& latency = report.latency_ns;
  auto us = [](std::uint64_t nanos) { return static_cast<double>(nanos) / 1e3; };
  std::ostringstream out;
  out << std::setprecision(10);
  out << "{\n";
  out << "  \"target\": " << json_string(options.target) << ",\n";
  out << "  \"method\": " << json_string(options.method) << ",\n";
  out << "  \"payload\": "
      << json_string(options.payload_file.empty() ? options.scenario : options.payload_file)
      << ",\n";
  out << "  \"payload_bytes\": " << report.payload_bytes << ",\n";
  out << "  \"mode\": \"" << (options.open_loop() ? "open" : "closed") << "\",\n";
  out << "  \"concurrency\": " << options.concurrency << ",\n";
  out << "  \"rate\": " << options.rate << ",\n";
  out << "  \"connections\": " << options.connections << ",\n";
  out << "  \"threads\": " << options.threads << ",\n";
  out << "  \"warmup_s\": " << options.warmup_seconds << ",\n";
  out << "  \"elapsed_s\": " << report.elapsed_seconds << ",\n";
  out << "  \"requests\": " << report.measured << ",\n";
  out << "  \"ok\": " << report.ok() << ",\n";
  out << "  \"failed\": " << report.failed() << ",\n";
  out << "  \"ok_all_phases\": " << report.ok_all_phases << ",\n";
  out << "  \"failures_by_code\": {";
  const char* separator = "";
  for (int code = 1; code < kStatusCodeCount; ++code) {
    if (report.by_code[code] > 0) {
      out << separator << "\"" << status_code_name(code) << "\": " << report.by_code[code];
      separator = ", ";
    }
  }
  out << "},\n";
  out << "  \"late_starts\": " << report.late_starts << ",\n";
  out << "  \"response_bytes\": " << report.response_bytes << ",\n";
  out << "  \"throughput_rps\": " << report.throughput() << ",\n";
  out << "  \"latency_us\": {\"min\": " << us(latency.min())
      << ", \"mean\": " << latency.mean() / 1e3 << ", \"p50\": " << us(latency.percentile(50))
      << ", \"p90\": " << us(latency.percentile(90)) << ", \"p99\": " << us(latency.percentile(99))
      << ", \"p99_9\": " << us(latency.percentile(99.9)) << ", \"max\": " << us(latency.max())
      << "},\n";
  out << "  \"client\": {\"cpu_s\": " << report.client_cpu_seconds
      << ", \"cpu_us_per_rpc\": " << per_rpc_us(report.client_cpu_seconds, report.measured)
      << ", \"utilization\": " << report.client_cpu_seconds / report.window_seconds << "},\n";
  out << "  \"server\": ";
  if (report.has_server()) {
    double cpu = report.server_after->cpu_seconds - report.server_before->cpu_seconds;
    out << "{\"pids\": [";
    for (std::size_t i = 0; i < options.server_pids.size(); ++i) {
      out << (i ? ", " : "") << options.server_pids[i];
    }
    out << "], \"cpu_s\": " << cpu << ", \"cpu_us_per_rpc\": " << per_rpc_us(cpu, report.measured)
        << ", \"utilization\": " << cpu / report.window_seconds
        << ", \"rss_bytes\": " << report.server_after->rss_bytes << "}";
  } else if (!report.server_error.empty()) {
    out << "{\"error\": " << json_string(report.server_error) << "}";
  } else {
    out << "null";
  }
  out << "\n}\n";
  std::ofstream file(path);
  file << out.str();
  return static_cast<bool>(file.flush());
}

}  // namespace gryphon::bench
