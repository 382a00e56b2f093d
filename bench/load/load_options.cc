#include "load_options.h"

#include <CLI/CLI.hpp>
#include <cstdlib>
#include <iostream>
#include <map>

#include "scenarios.h"

namespace gryphon::bench {

[[noreturn]] static void fail_flag(const char* program, const std::string& message) {
  std::cerr << program << ": " << message << " (see --help)\n";
  std::exit(2);
}

LoadOptions parse_load_options(int argc, char** argv) {
  LoadOptions options;
  CLI::App app{
      "gryphon-bench: unary gRPC load generator. Closed loop keeps --concurrency RPCs in flight;\n"
      "open loop (--rate) starts RPCs on a fixed schedule and measures latency from each RPC's\n"
      "intended start. Checks every grpc-status."};
  std::string scenario_help = "named request payload:";
  for (const std::string& name : scenario_names()) {
    scenario_help += " " + name;
  }

  app.add_option("--target", options.target, "server address, host:port");
  app.add_option("--method", options.method, "full method path /package.Service/Method")
      ->capture_default_str();
  auto* scenario = app.add_option("--scenario", options.scenario, scenario_help)
                       ->check(CLI::IsMember(scenario_names()))
                       ->capture_default_str();
  app.add_option("--payload-file", options.payload_file, "file with the serialized request")
      ->check(CLI::ExistingFile)
      ->excludes(scenario);
  app.add_option("--concurrency", options.concurrency, "closed loop: RPCs in flight")
      ->check(CLI::Range(1, 1000000))
      ->capture_default_str();
  app.add_option("--connections", options.connections, "separate TCP connections")
      ->check(CLI::Range(1, 10000))
      ->capture_default_str();
  std::map<std::string, ConnectMode> connect_modes = {{"direct", ConnectMode::kDirect},
                                                      {"resolver", ConnectMode::kResolver}};
  app.add_option("--connect", options.connect,
                 "direct: open each TCP connection here and hand it to gRPC (cheapest per RPC; "
                 "host:port only); resolver: ordinary gRPC channels (any target URI)")
      ->transform(CLI::CheckedTransformer(connect_modes))
      ->default_str("direct");
  app.add_option("--threads", options.threads, "completion-queue threads")
      ->check(CLI::Range(1, 256))
      ->capture_default_str();
  auto* rate = app.add_option("--rate", options.rate, "open loop: RPCs per second")
                   ->check(CLI::PositiveNumber);
  app.add_option("--max-in-flight", options.max_in_flight, "open loop: cap on RPCs in flight")
      ->check(CLI::Range(1, 1000000))
      ->capture_default_str();
  app.add_option("--warmup", options.warmup_seconds, "seconds of unmeasured load first")
      ->check(CLI::Range(0.0, 3600.0))
      ->capture_default_str();
  auto* duration = app.add_option("--duration", options.duration_seconds, "measured seconds")
                       ->check(CLI::Range(0.001, 86400.0))
                       ->capture_default_str();
  app.add_option("--requests", options.requests, "measured RPCs (instead of --duration)")
      ->check(CLI::PositiveNumber)
      ->excludes(duration);
  app.add_option("--connect-timeout", options.connect_timeout_seconds,
                 "seconds to wait for every connection")
      ->check(CLI::Range(0.001, 3600.0))
      ->capture_default_str();
  app.add_option("--json", options.json_path, "write the results as JSON to this file");
  app.add_option("--server-pid", options.server_pids,
                 "server process to measure (CPU, RSS); repeat for a master and its workers")
      ->check(CLI::PositiveNumber);
  app.add_flag("!--no-progress", options.progress, "no progress line each second on stderr");
  app.add_option("--write-payload", options.write_payload_path,
                 "write the request bytes to this file and exit");
  app.add_option("--write-frame", options.write_frame_path,
                 "write the request as one gRPC frame (for h2load --data) and exit");

  try {
    app.parse(argc, argv);
  } catch (const CLI::CallForHelp& e) {
    std::exit(app.exit(e));
  } catch (const CLI::ParseError& e) {
    fail_flag(argv[0], e.what());
  }

  if (options.only_writes_files()) {
    return options;
  }
  if (options.target.empty()) {
    fail_flag(argv[0], "--target is required");
  }
  if (options.method.size() < 4 || options.method.front() != '/' ||
      options.method.find('/', 1) == std::string::npos) {
    fail_flag(argv[0], "--method: expected /package.Service/Method, got '" + options.method + "'");
  }
  if (options.threads > options.connections) {
    fail_flag(argv[0], "--threads (" + std::to_string(options.threads) +
                           ") must not exceed --connections (" +
                           std::to_string(options.connections) + ")");
  }
  if (!options.open_loop() && options.concurrency < options.connections) {
    fail_flag(argv[0], "--concurrency (" + std::to_string(options.concurrency) +
                           ") must be at least --connections (" +
                           std::to_string(options.connections) + ")");
  }
  if (rate->count() > 0 && options.max_in_flight < options.threads) {
    fail_flag(argv[0], "--max-in-flight must be at least --threads");
  }
  return options;
}

}  // namespace gryphon::bench
