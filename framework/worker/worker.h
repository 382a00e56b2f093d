// Worker: one process serving gRPC for one slot (or, with --workers 0, for the whole instance).
//
// A worker is created by fork() in the master (spawn.h) or runs as the only process
// (instance/standalone.h); what differs is its WorkerHost. It creates the service handlers and
// interceptors, the dispatcher and its transport, and runs a single-threaded Asio loop on its main
// thread: the acceptor on the inherited listening sockets, heartbeats, the host's messages and
// signals. The transport's threads and the handler pool have every signal blocked.
//
// Ready means a grpc.health.v1 Check succeeded over a real connection handed to the transport
// through the same path as client traffic.
//
// A slot drain (the host asks: a master's command, SIGTERM, the master's death) stops accepting,
// tells the transport, waits until every connection has closed — bounded by shutdown_timeout —
// then stops the transport, which ends what is left by that deadline.
#pragma once

#include <functional>
#include <memory>
#include <vector>

#include "config/config.h"
#include "gryphon/interceptor.h"
#include "gryphon/server.h"
#include "observability/rpc_metrics_store.h"
#include "transport/listen_sockets.h"
#include "transport/tls.h"
#include "worker/worker_host.h"

namespace gryphon::internal {

// The built-in interceptors (request id, access log, metrics), made by the interceptors library
// above the core: the worker runs them outermost, so they see the final status.
struct BuiltinInterceptors {
  std::vector<std::unique_ptr<Interceptor>> chain;
  std::function<void()> reopen_logs;  // USR1
};
using BuiltinsFactory =
    std::function<BuiltinInterceptors(const Config& config, int slot, RpcMetricsStore* store)>;
struct BuiltinsProvider {
  BuiltinsFactory make;
};

struct WorkerSpec {
  const Config& config;
  const TlsMaterial& tls;
  const std::vector<ListenSocket>& listeners;
  const std::vector<ServiceRegistration>& services;
  const std::vector<InterceptorFactory>& interceptors;
  const BuiltinsFactory& builtins;
  const Hooks& hooks;
  std::string name;  // the service binary's name, for the process title
  int slot = 0;
  std::uint64_t max_requests = 0;      // with jitter already applied; 0 = never recycle
  RpcMetricsStore* metrics = nullptr;  // the per-slot counters; null with metrics off
};

// Runs the worker until it has drained. Returns the process exit code.
int run_worker(const WorkerSpec& spec, WorkerHost& host);
// A worker forked by the master, talking to it on `control_fd`.
int run_supervised_worker(const WorkerSpec& spec, int control_fd);

}  // namespace gryphon::internal
