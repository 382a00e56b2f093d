// LoadOptions: what one gryphon-bench run does, parsed from its command line. Every limit is
// checked here, so the rest of the generator can trust the values; a bad flag ends the process
// with exit code 2 and a message that names the flag.
#pragma once

#include <cstdint>
#include <string>
#include <vector>

namespace gryphon::bench {

// How the generator opens its connections (see connections.h).
enum class ConnectMode { kDirect, kResolver };

struct LoadOptions {
  std::string target;                               // host:port, or any gRPC target URI
  std::string method = "/gryphon.bench.Echo/Call";  // full method path
  std::string scenario = "string_100B";
  std::string payload_file;  // serialized request bytes; replaces the scenario when set
  int concurrency = 64;      // closed loop: RPCs kept in flight
  int connections = 4;       // separate TCP connections
  ConnectMode connect = ConnectMode::kDirect;
  int threads = 1;            // completion-queue threads; connections are divided among them
  double rate = 0;            // open loop: RPCs per second started on schedule; 0 = closed loop
  int max_in_flight = 10000;  // open loop: RPCs in flight before starts wait (and count as late)
  double warmup_seconds = 2;
  double duration_seconds = 10;
  std::uint64_t requests = 0;  // measured RPCs; when set, replaces the duration
  double connect_timeout_seconds = 10;
  std::string json_path;
  std::vector<int> server_pids;
  bool progress = true;
  std::string write_payload_path;  // write the request bytes here and exit
  std::string write_frame_path;    // write them as one gRPC frame (h2load --data) and exit

  bool open_loop() const { return rate > 0; }
  bool only_writes_files() const {
    return !write_payload_path.empty() || !write_frame_path.empty();
  }
};

// Parses argv. On --help prints usage and exits 0; on a bad flag exits 2 naming the flag.
LoadOptions parse_load_options(int argc, char** argv);

}  // namespace gryphon::bench
