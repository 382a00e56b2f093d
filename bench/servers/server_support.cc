#include "server_support.h"

#include <absl/synchronization/mutex.h>
#include <grpcpp/grpcpp.h>

#include <CLI/CLI.hpp>
#include <chrono>
#include <memory>
#include <csignal>
#include <cstdio>
#include <cstdlib>
#include <iostream>

namespace gryphon::bench {

ServerFlags parse_server_flags(int argc, char** argv, const std::string& description,
                               bool async_flags) {
  ServerFlags flags;
  CLI::App app{description};
  app.add_option("--listen", flags.listen,
                 "host:port to listen on; port 0 picks a free port, printed when ready")
      ->capture_default_str();
  if (async_flags) {
    app.add_option("--threads", flags.threads, "completion queues, one polling thread each")
        ->check(CLI::Range(1, 256))
        ->capture_default_str();
    app.add_option("--prepost", flags.prepost, "requests posted per completion queue")
        ->check(CLI::Range(1, 100000))
        ->capture_default_str();
  }
  bool no_deadlock_detection = false;
  app.add_flag(
      "--no-deadlock-detection", no_deadlock_detection,
      "turn off abseil's mutex deadlock detection, as gryphon's workers do (Debian's abseil "
      "keeps it on)");
  try {
    app.parse(argc, argv);
  } catch (const CLI::CallForHelp& e) {
    std::exit(app.exit(e));
  } catch (const CLI::ParseError& e) {
    std::cerr << argv[0] << ": " << e.what() << " (see --help)\n";
    std::exit(2);
  }
  if (no_deadlock_detection) absl::SetMutexDeadlockDetectionMode(absl::OnDeadlockCycle::kIgnore);
  if (flags.listen.rfind(':') == std::string::npos) {
    std::cerr << argv[0] << ": --listen: expected host:port, got '" << flags.listen << "'\n";
    std::exit(2);
  }
  return flags;
}

static sigset_t server_signals() {
  sigset_t set;
  sigemptyset(&set);
  sigaddset(&set, SIGINT);
  sigaddset(&set, SIGTERM);
  sigaddset(&set, SIGUSR1);
  return set;
}

void block_server_signals() {
  sigset_t set = server_signals();
  if (pthread_sigmask(SIG_BLOCK, &set, nullptr) != 0) {
    std::perror("pthread_sigmask");
    std::abort();
  }
}

void serve_until_stopped(const std::function<std::uint64_t()>& ok_rpcs) {
  sigset_t set = server_signals();
  while (true) {
    int signal_number = 0;
    if (sigwait(&set, &signal_number) != 0) {
      std::perror("sigwait");
      std::abort();
    }
    if (signal_number != SIGUSR1) {
      return;
    }
    announce_ok_rpcs(ok_rpcs());
  }
}

void announce_listening(const std::string& listen, int port) {
  std::string host = listen.substr(0, listen.rfind(':'));
  std::cout << "listening on " << host << ":" << port << std::endl;
}

void announce_ok_rpcs(std::uint64_t count) {
  std::cout << "ok_rpcs " << count << std::endl;
}

int serve_service(grpc::Service& service, const ServerFlags& flags, const char* program,
                  const std::function<std::uint64_t()>& ok_rpcs) {
  grpc::ServerBuilder builder;
  int port = 0;
  builder.AddListeningPort(flags.listen, grpc::InsecureServerCredentials(), &port);
  builder.RegisterService(&service);
  std::unique_ptr<grpc::Server> server = builder.BuildAndStart();
  if (!server || port == 0) {
    std::cerr << program << ": cannot listen on " << flags.listen << "\n";
    return 1;
  }
  announce_listening(flags.listen, port);
  serve_until_stopped(ok_rpcs);
  server->Shutdown(std::chrono::system_clock::now() + std::chrono::seconds(2));
  announce_ok_rpcs(ok_rpcs());
  return 0;
}

}  // namespace gryphon::bench
