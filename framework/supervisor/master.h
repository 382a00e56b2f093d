// Master: the supervisor process of a gryphon instance.
//
// The master owns the listening sockets, forks the workers into stable slots 0..N-1 and drives
// them from one single-threaded Asio loop: signals (through a signalfd), one control socket per
// worker (commands one way; ready, heartbeats with stats, drain and recycle notices the other),
// timers for respawn backoff, heartbeat checks and drain deadlines, and the /metrics endpoint.
// It never constructs a gRPC object and never starts a thread, so every fork is safe; it asserts
// grpc_is_initialized() == 0 before each fork.
//
// Signals (see README): TERM/INT instance stop (second INT: immediate), QUIT immediate stop, HUP
// rolling restart with config re-read, USR1 reopen logs, USR2 binary upgrade, TTIN/TTOU one worker
// more/fewer. A slot is replaced "replacement first": the new worker must be ready before the old
// one is told to drain, so capacity never drops.
#pragma once

#include <string>
#include <vector>

#include "config/config.h"
#include "gryphon/server.h"
#include "transport/tls.h"
#include "worker/worker.h"

namespace gryphon::internal {

struct MasterSpec {
  Config config;
  TlsMaterial tls;                // loaded and checked from config's files
  std::vector<std::string> args;  // the original command line, for HUP re-reads and USR2 re-exec
  std::string executable;         // resolved at start, for USR2
  std::string name;
  const std::vector<ServiceRegistration>& services;
  const std::vector<InterceptorFactory>& interceptors;
  const BuiltinsFactory& builtins;
  const Hooks& hooks;
};

// Runs the instance until it stops. Returns the process exit code (0 graceful, 1 failure).
int run_master(MasterSpec spec);

}  // namespace gryphon::internal
