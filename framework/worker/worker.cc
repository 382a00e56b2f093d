#include "worker/worker.h"

#include <signal.h>
#include <unistd.h>

#include <absl/synchronization/mutex.h>

#include <algorithm>
#include <boost/asio/steady_timer.hpp>
#include <boost/asio/thread_pool.hpp>
#include <optional>

#include "dispatch/dispatcher.h"
#include "dispatch/health_service.h"
#include "dispatch/reflection_service.h"
#include "observability/logging.h"
#include "os/process.h"
#include "transport/acceptor.h"
#include "transport/grpc/grpc_transport.h"
#include "transport/native/native_transport.h"
#include "worker/master_link.h"

namespace gryphon::internal {
namespace {

using Clock = std::chrono::steady_clock;

class Worker final : public WorkerControl {
 public:
  Worker(const WorkerSpec& spec, WorkerHost& host)
      : spec_(spec), config_(spec.config), host_(host), drain_timer_(io_), heartbeat_timer_(io_) {}
  // The host's I/O objects live on io_, which goes with this worker.
  ~Worker() override { host_.detach(); }

  int run();

  void set_serving(bool serving) override {
    if (health_) health_->set_serving(serving);
  }
  void drain(const std::string& reason) override;
  void reopen_logs() override {
    log::reopen();
    if (builtins_.reopen_logs) builtins_.reopen_logs();
  }
  WorkerStats stats() const override;

 private:
  bool build(std::string* error);
  void on_signal(int signal);
  void heartbeat();
  void poll_drain();
  void fatal(const std::string& message) {
    log::process()->error("{}", message);
    host_.report(control::Fatal{message});
  }

  const WorkerSpec& spec_;
  const Config& config_;
  WorkerHost& host_;
  boost::asio::io_context io_;
  std::optional<SignalWatcher> signals_;
  boost::asio::steady_timer drain_timer_;
  boost::asio::steady_timer heartbeat_timer_;

  BuiltinInterceptors builtins_;
  std::unique_ptr<boost::asio::thread_pool> pool_;
  std::vector<std::unique_ptr<Handler>> handlers_;
  std::unique_ptr<HealthService> health_;
  std::unique_ptr<Dispatcher> dispatcher_;
  std::unique_ptr<Transport> transport_;
  std::unique_ptr<Acceptor> acceptor_;

  bool draining_ = false;
  bool recycle_requested_ = false;
  Clock::time_point drain_deadline_;
};

bool Worker::build(std::string* error) {
  std::vector<Dispatcher::Service> services;
  std::vector<std::string> names;
  for (const auto& registration : spec_.services) {
    handlers_.push_back(registration.factory());
    services.push_back(
        {handlers_.back()->gryphon_bind(), registration.options.inline_handlers, false});
    names.push_back(services.back().def.service);
  }
  health_ = std::make_unique<HealthService>(names);
  services.push_back({health_->definition(), /*inline_handlers=*/true, /*builtin=*/true});
  if (config_.reflection)
    add_reflection_services(services);  // grpc.reflection v1alpha and v1, built-ins too
  // Built-ins wrap the service's own interceptors, so they see the final status.
  std::vector<std::unique_ptr<Interceptor>> interceptors;
  if (spec_.builtins) {
    builtins_ = spec_.builtins(config_, spec_.slot, spec_.metrics);
    interceptors = std::move(builtins_.chain);
  }
  for (const auto& factory : spec_.interceptors) interceptors.push_back(factory());

  pool_ = std::make_unique<boost::asio::thread_pool>(static_cast<std::size_t>(config_.threads));
  DispatchOptions options;
  options.max_concurrent_rpcs = config_.max_concurrent_rpcs;
  options.slot = spec_.slot;
  options.default_deadline = config_.default_deadline;
  options.default_stream_deadline = config_.default_stream_deadline;
  // Streams of sync handlers hold a pool thread each: a quarter of the pool stays for unary pool
  // handlers. Health watches and reflection streams hold none (async): their own budget, as
  // large as the application's, so they take no application slot and stay bounded.
  options.max_streaming_calls = config_.max_streaming_calls > 0
                                    ? config_.max_streaming_calls
                                    : std::max(1, config_.threads * 3 / 4);
  options.max_builtin_streams = config_.max_concurrent_rpcs;
  dispatcher_ =
      std::make_unique<Dispatcher>(options, std::move(services), std::move(interceptors), *pool_);
  transport_ = config_.transport == TransportKind::kNative
                   ? make_native_transport(config_, spec_.tls, *dispatcher_)
                   : make_grpc_transport(config_, spec_.tls, *dispatcher_, io_);
  if (!transport_->start(error)) return false;
  return transport_->check_ready(config_.startup_timeout, error);
}

void Worker::on_signal(int signal) {
  switch (signal) {
    case SIGQUIT: log::process()->warn("SIGQUIT: stopping immediately"); std::_Exit(1);
    case SIGUSR1: reopen_logs(); break;
    default: host_.on_signal(signal); break;
  }
}

WorkerStats Worker::stats() const {
  WorkerStats stats;
  if (dispatcher_) {
    auto& dispatch = dispatcher_->stats();
    stats.in_flight = dispatch.in_flight.load();
    stats.served = dispatch.served.load();
    stats.rejected = dispatch.rejected.load();
    stats.write_timeouts = dispatch.write_timeouts.load();
  }
  if (transport_) stats.connections = transport_->open_connections();
  stats.rss = resident_bytes();
  return stats;
}

void Worker::heartbeat() {
  const WorkerStats now = stats();
  host_.report(control::Heartbeat{now});
  if (!recycle_requested_ && !draining_ && host_.supervised()) {
    if (spec_.max_requests > 0 && now.served >= spec_.max_requests) {
      recycle_requested_ = true;
      host_.report(control::Recycle{control::RecycleReason::kRequests});
    } else if (config_.max_memory > 0 && now.rss > config_.max_memory) {
      recycle_requested_ = true;
      host_.report(control::Recycle{control::RecycleReason::kMemory});
    }
  }
  const auto interval = std::clamp(config_.heartbeat_timeout / 4, Duration(50), Duration(1000));
  heartbeat_timer_.expires_after(interval);
  heartbeat_timer_.async_wait([this](const boost::system::error_code& ec) {
    if (!ec) heartbeat();
  });
}

void Worker::drain(const std::string& reason) {
  if (draining_ || !transport_) return;
  draining_ = true;
  dispatcher_->set_draining();
  if (health_) health_->end_watches();  // after set_draining: each watch wakes to see it
  host_.report(control::Draining{});
  log::process()->info(
      "draining ({}): stopped accepting; waiting for {} connections to close (at most {}ms)",
      reason, transport_->open_connections(), config_.shutdown_timeout.count());
  if (acceptor_) acceptor_->stop();
  transport_->begin_drain();
  drain_deadline_ = Clock::now() + config_.shutdown_timeout;
  poll_drain();
}

void Worker::poll_drain() {
  if (transport_->open_connections() == 0 || Clock::now() >= drain_deadline_) {
    io_.stop();
    return;
  }
  drain_timer_.expires_after(std::chrono::milliseconds(20));
  drain_timer_.async_wait([this](const boost::system::error_code& ec) {
    if (!ec) poll_drain();
  });
}

int Worker::run() {
  block_all_signals();
  ::signal(SIGPIPE, SIG_IGN);
  signals_.emplace(io_, std::initializer_list<int>{SIGTERM, SIGINT, SIGQUIT, SIGUSR1, SIGHUP},
                   [this](int s) { on_signal(s); });
  std::string error;
  if (!host_.attach(io_, *this, &error)) {
    fatal(error);
    return 1;
  }
  try {
    for (const auto& hook : spec_.hooks.on_worker_start) hook(spec_.slot);
  } catch (const std::exception& e) {
    fatal(std::string("on_worker_start hook failed: ") + e.what());
    return 1;
  }
  // Debian's abseil is built without NDEBUG, so every absl::Mutex (gRPC's locks) keeps a lock-order
  // graph for deadlock detection, a debugging aid that cost about 5% of throughput.
  absl::SetMutexDeadlockDetectionMode(absl::OnDeadlockCycle::kIgnore);
  try {
    if (!build(&error)) {
      fatal(error);
      return 1;
    }
  } catch (const std::exception& e) {
    fatal(e.what());
    return 1;
  }
  acceptor_ = std::make_unique<Acceptor>(
      io_, spec_.listeners, config_.max_connections,
      [this] { return transport_->open_connections(); },
      [this](int fd, bool tcp) { transport_->serve_connection(fd, tcp); });
  acceptor_->start();
  heartbeat();
  host_.report(control::Ready{});

  io_.run();

  // Drained (or out of time): let the transport finish what is left by the deadline, then stop.
  transport_->stop(std::max(drain_deadline_, Clock::now() + std::chrono::milliseconds(100)));
  pool_->join();
  for (const auto& hook : spec_.hooks.on_worker_stop) {
    try {
      hook(spec_.slot);
    } catch (const std::exception& e) {
      log::process()->error("on_worker_stop hook failed: {}", e.what());
    }
  }
  log::process()->info("drained; exiting");
  return 0;
}

}  // namespace

int run_worker(const WorkerSpec& spec, WorkerHost& host) {
  Worker worker(spec, host);
  return worker.run();
}

int run_supervised_worker(const WorkerSpec& spec, int control_fd) {
  MasterLink link(control_fd, spec.name + ": worker[" + std::to_string(spec.slot) + "]");
  return run_worker(spec, link);
}

}  // namespace gryphon::internal
