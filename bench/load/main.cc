// gryphon-bench: a unary gRPC load generator built to measure the server rather than itself.
// See bench/README.md for the flags, the output and how bench/compare.py uses it.

#include <absl/synchronization/mutex.h>
#include <grpcpp/grpcpp.h>

#include <fstream>
#include <iostream>
#include <iterator>
#include <string>

#include "connections.h"
#include "load_options.h"
#include "process_stats.h"
#include "report.h"
#include "run.h"
#include "scenarios.h"

namespace {

bool read_file(const std::string& path, std::string* contents) {
  std::ifstream file(path, std::ios::binary);
  contents->assign(std::istreambuf_iterator<char>(file), std::istreambuf_iterator<char>());
  return file.is_open() && !file.bad();
}

bool write_file(const std::string& path, const std::string& contents) {
  std::ofstream file(path, std::ios::binary);
  file << contents;
  return static_cast<bool>(file.flush());
}

}  // namespace

int main(int argc, char** argv) {
  using namespace gryphon::bench;
  LoadOptions options = parse_load_options(argc, argv);
  // Debian builds abseil without NDEBUG, so every mutex operation in gRPC would also maintain
  // the deadlock detector's lock graph: CPU the generator would spend measuring itself.
  absl::SetMutexDeadlockDetectionMode(absl::OnDeadlockCycle::kIgnore);

  std::string payload;
  if (options.payload_file.empty()) {
    payload = *scenario_payload(options.scenario);
  } else if (!read_file(options.payload_file, &payload)) {
    std::cerr << argv[0] << ": --payload-file: cannot read " << options.payload_file << "\n";
    return 2;
  }
  if (options.only_writes_files()) {
    if (!options.write_payload_path.empty() && !write_file(options.write_payload_path, payload)) {
      std::cerr << argv[0] << ": --write-payload: cannot write " << options.write_payload_path
                << "\n";
      return 1;
    }
    if (!options.write_frame_path.empty() &&
        !write_file(options.write_frame_path, grpc_frame(payload))) {
      std::cerr << argv[0] << ": --write-frame: cannot write " << options.write_frame_path << "\n";
      return 1;
    }
    return 0;
  }

  std::string error;
  if (!options.server_pids.empty() && !sample_server(options.server_pids, &error)) {
    std::cerr << argv[0] << ": --server-pid: " << error << "\n";
    return 2;
  }
  std::vector<std::shared_ptr<grpc::Channel>> channels = open_connections(options, &error);
  if (channels.empty()) {
    std::cerr << argv[0] << ": " << error << "\n";
    return 1;
  }

  RunReport report =
      run_workers(options, plan_workers(options, channels, payload, Clock::now()), payload.size());
  print_table(report, std::cout);
  if (!options.json_path.empty() && !write_json(report, options.json_path)) {
    std::cerr << argv[0] << ": --json: cannot write " << options.json_path << "\n";
    return 1;
  }
  if (report.measured == 0) {
    std::cerr << argv[0] << ": no RPC completed in the measured window\n";
    return 1;
  }
  if (report.failed() > 0) {
    std::cerr << argv[0] << ": " << report.failed() << " of " << report.measured
              << " RPCs failed\n";
    return 1;
  }
  return 0;
}
