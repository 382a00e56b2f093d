// Worker: one process serving gRPC for one slot.
//
// A worker is created by fork() in the master (or runs inside the master with --workers 0). It
// creates the service handlers and interceptors, builds its own grpc::Server with an external
// connection acceptor, and runs a single-threaded Asio loop on its main thread that accepts from
// the inherited listening sockets (never blocking: a lost accept race is EAGAIN), hands each
// connection to gRPC, watches those connections close, talks to the master over its control
// socket and handles signals. gRPC's threads and the handler pool have every signal blocked.
//
// Ready means a grpc.health.v1 Check succeeded over a real connection handed to the server
// through the same acceptor path as client traffic (one end of a socketpair).
//
// A slot drain (command "drain", SIGTERM to the worker, or the master's death) stops accepting,
// waits until every connection handed to gRPC has closed — max connection age makes clients move
// away with a GOAWAY — bounded by shutdown_timeout, then calls Server::Shutdown(deadline). Calling
// Shutdown first would cancel calls that reach the server after it began (measured on 1.51).
#pragma once

#include <vector>

#include "gryphon/config.h"
#include "gryphon/server.h"
#include "listener.h"
#include "metrics_store.h"
#include "tls.h"

namespace gryphon::internal {

struct WorkerSpec {
  const Config& config;
  const TlsMaterial& tls;
  const std::vector<ListenSocket>& listeners;
  const std::vector<ServiceRegistration>& services;
  const std::vector<InterceptorFactory>& interceptors;
  const Hooks& hooks;
  std::string name;        // the service binary's name, for the process title
  int slot = 0;
  int control_fd = -1;     // -1: standalone (--workers 0), this process is the whole instance
  std::uint64_t max_requests = 0;  // with jitter already applied; 0 = never recycle
  MetricsStore* metrics = nullptr;  // the master's shared per-slot counters; null without a master
};

// Runs the worker until it has drained. Returns the process exit code.
int run_worker(const WorkerSpec& spec);

}  // namespace gryphon::internal
