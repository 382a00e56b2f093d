#include "worker.h"

#include <fcntl.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <signal.h>
#include <sys/epoll.h>
#include <sys/prctl.h>
#include <sys/socket.h>
#include <unistd.h>

#include <absl/synchronization/mutex.h>
#include <grpcpp/create_channel_posix.h>
#include <grpcpp/ext/health_check_service_server_builder_option.h>
#include <grpcpp/grpcpp.h>
#include <grpcpp/health_check_service_interface.h>
#include <grpcpp/impl/codegen/client_unary_call.h>
#include <spdlog/spdlog.h>

#include <boost/asio/posix/stream_descriptor.hpp>
#include <boost/asio/steady_timer.hpp>
#include <boost/asio/thread_pool.hpp>
#include <optional>

#include "access_log.h"
#include "control.h"
#include "metrics.h"
#include "metrics_endpoint.h"
#include "runtime_metrics.h"
#include "request_id.h"
#include "dispatch.h"
#include "health.h"
#include "logging.h"
#include "process.h"
#include "pid_file.h"
#include "reflection.h"
#include "systemd.h"

namespace gryphon::internal {
namespace {

using Clock = std::chrono::steady_clock;
using ExternalAcceptor = grpc::experimental::ExternalConnectionAcceptor;

// Counts the connections handed to gRPC and notices when each one closes: gRPC gives no close
// callback for a handed-off connection, so a dup of its fd is watched for HUP in an epoll
// set whose readiness the Asio loop waits on. (gRPC shuts a socket down before closing it, so the
// dup never keeps a connection alive.)
class ConnectionWatcher {
 public:
  explicit ConnectionWatcher(boost::asio::io_context& io) : epoll_(io, ::epoll_create1(EPOLL_CLOEXEC)) { wait(); }
  ~ConnectionWatcher() {
    for (int fd : fds_) ::close(fd);
  }

  // Call before handing `fd` to gRPC.
  void watch(int fd) {
    const int copy = ::fcntl(fd, F_DUPFD_CLOEXEC, 0);
    if (copy < 0) return;  // out of descriptors: the connection is served but not counted
    epoll_event event{};
    // HUP, not RDHUP: a peer's half-close is not the end of the connection for gRPC; the
    // connection is gone when gRPC has shut the socket down (or it died with an error).
    event.events = EPOLLHUP | EPOLLERR;
    event.data.fd = copy;
    ::epoll_ctl(epoll_.native_handle(), EPOLL_CTL_ADD, copy, &event);
    fds_.insert(copy);
  }
  std::size_t open() const { return fds_.size(); }

 private:
  void wait() {
    epoll_.async_wait(boost::asio::posix::stream_descriptor::wait_read, [this](const boost::system::error_code& ec) {
      if (ec) return;
      epoll_event events[64];
      const int n = ::epoll_wait(epoll_.native_handle(), events, 64, 0);
      for (int i = 0; i < n; ++i) {
        const int fd = events[i].data.fd;
        ::epoll_ctl(epoll_.native_handle(), EPOLL_CTL_DEL, fd, nullptr);
        // Ours is the last descriptor of the socket: closing it with unread bytes queued (say a
        // frame the peer sent after our GOAWAY) would make the kernel send RST, and an RST makes
        // the peer drop response bytes it has not read yet. Discard them first so it gets a FIN.
        char discard[4096];
        while (::recv(fd, discard, sizeof(discard), MSG_DONTWAIT) > 0) {
        }
        ::close(fd);
        fds_.erase(fd);
      }
      wait();
    });
  }

  boost::asio::posix::stream_descriptor epoll_;
  std::set<int> fds_;
};

grpc::Status health_check(const std::shared_ptr<grpc::Channel>& channel, Duration timeout, bool* serving) {
  grpc::ClientContext context;
  context.set_deadline(std::chrono::system_clock::now() + timeout);
  context.set_wait_for_ready(true);
  grpc::Slice empty;  // HealthCheckRequest{service: ""} encodes to zero bytes, but must be a message
  const grpc::ByteBuffer request(&empty, 1);
  grpc::ByteBuffer response;
  const grpc::internal::RpcMethod method("/grpc.health.v1.Health/Check", grpc::internal::RpcMethod::NORMAL_RPC);
  grpc::Status status = grpc::internal::BlockingUnaryCall(channel.get(), method, &context, request, &response);
  if (status.ok()) {
    std::vector<grpc::Slice> slices;
    (void)response.Dump(&slices);
    std::string bytes;
    for (const auto& slice : slices) bytes.append(reinterpret_cast<const char*>(slice.begin()), slice.size());
    *serving = bytes == std::string("\x08\x01", 2);  // HealthCheckResponse{status: SERVING}
  }
  return status;
}

std::shared_ptr<grpc::ServerCredentials> server_credentials(const TlsMaterial& tls) {
  grpc_ssl_client_certificate_request_type request = GRPC_SSL_DONT_REQUEST_CLIENT_CERTIFICATE;
  if (tls.client_auth == ClientAuth::kOptional) request = GRPC_SSL_REQUEST_CLIENT_CERTIFICATE_AND_VERIFY;
  if (tls.client_auth == ClientAuth::kRequire) request = GRPC_SSL_REQUEST_AND_REQUIRE_CLIENT_CERTIFICATE_AND_VERIFY;
  grpc::SslServerCredentialsOptions options(request);
  options.pem_key_cert_pairs.push_back({tls.private_key, tls.cert_chain});
  options.pem_root_certs = tls.client_ca;
  return grpc::SslServerCredentials(options);
}

class Worker {
 public:
  explicit Worker(const WorkerSpec& spec)
      : spec_(spec), config_(spec.config), standalone_(spec.control_fd < 0), connections_(io_), drain_timer_(io_),
        heartbeat_timer_(io_) {}

  int run();

 private:
  bool build_server(std::string* error);
  bool check_ready(std::string* error);
  void start_accepting();
  void accept_on(std::size_t index);
  void hand_over(int fd, int listener_fd, bool tcp);
  void on_control(const std::string& line);
  void on_signal(int signal);
  void heartbeat();
  void set_serving(bool serving);
  void begin_instance_stop();
  void begin_drain(const std::string& reason);
  void poll_drain();
  void fatal(const std::string& message);
  WorkerStats current_stats() const;  // what the heartbeat reports
  std::string render_metrics();      // standalone: this process is the whole instance
  void send(const std::string& line) {
    if (control_) control_->send(line);
  }

  const WorkerSpec& spec_;
  const Config& config_;
  const bool standalone_;
  boost::asio::io_context io_;
  std::optional<ControlChannel> control_;
  std::optional<SignalWatcher> signals_;
  std::vector<std::unique_ptr<boost::asio::posix::stream_descriptor>> listeners_;
  std::vector<std::unique_ptr<boost::asio::steady_timer>> accept_timers_;
  ConnectionWatcher connections_;
  boost::asio::steady_timer drain_timer_;
  boost::asio::steady_timer heartbeat_timer_;

  std::unique_ptr<AccessLog> access_log_;
  std::unique_ptr<boost::asio::thread_pool> pool_;
  std::vector<std::unique_ptr<Handler>> handlers_;
  std::unique_ptr<HealthService> health_;
  std::unique_ptr<Dispatcher> dispatcher_;
  std::unique_ptr<ExternalAcceptor> acceptor_;
  std::unique_ptr<ExternalAcceptor> tls_acceptor_;
  std::unique_ptr<grpc::Server> server_;
  std::vector<std::string> service_names_;
  std::unique_ptr<MetricsEndpoint> metrics_endpoint_;  // standalone only; a master serves it otherwise

  bool ready_ = false;
  bool draining_ = false;
  bool stopping_ = false;  // standalone instance stop in progress
  bool recycle_requested_ = false;
  Clock::time_point drain_deadline_;
  std::optional<PidFile> pid_file_;
};

bool Worker::build_server(std::string* error) {
  std::vector<Dispatcher::Service> services;
  for (const auto& registration : spec_.services) {
    handlers_.push_back(registration.factory());
    services.push_back({handlers_.back()->gryphon_bind(), registration.options.inline_handlers, false});
    service_names_.push_back(services.back().def.service);
  }
  health_ = std::make_unique<HealthService>(service_names_);
  services.push_back({health_->definition(), /*inline_handlers=*/true, /*builtin=*/true});
  if (config_.reflection) add_reflection_services(services);  // grpc.reflection v1alpha and v1, built-ins too
  // Built-ins wrap the service's own interceptors, so they see the final status.
  std::vector<std::unique_ptr<Interceptor>> interceptors;
  if (config_.request_id) interceptors.push_back(std::make_unique<RequestIdInterceptor>());
  if (!config_.access_log.empty()) {
    access_log_ = std::make_unique<AccessLog>(config_.access_log, config_.access_log_format, spec_.slot,
                                              spec_.metrics != nullptr ? spec_.metrics->dropped_log_lines(spec_.slot)
                                                                       : nullptr);
    interceptors.push_back(std::make_unique<AccessLogInterceptor>(*access_log_));
  }
  if (spec_.metrics != nullptr) interceptors.push_back(std::make_unique<MetricsInterceptor>(*spec_.metrics, spec_.slot));
  for (const auto& factory : spec_.interceptors) interceptors.push_back(factory());

  pool_ = std::make_unique<boost::asio::thread_pool>(static_cast<std::size_t>(config_.threads));
  DispatchOptions options;
  options.cq_threads = config_.cq_threads;
  options.max_concurrent_rpcs = config_.max_concurrent_rpcs;
  options.slot = spec_.slot;
  options.default_deadline = config_.default_deadline;
  dispatcher_ = std::make_unique<Dispatcher>(options, std::move(services), std::move(interceptors), *pool_);

  grpc::ServerBuilder builder;
  // Plaintext: unix listeners (a sidecar's socket) and the readiness check's socketpair. With TLS,
  // TCP connections go to a second acceptor holding the credentials the master loaded.
  acceptor_ = builder.experimental().AddExternalConnectionAcceptor(
      grpc::ServerBuilder::experimental_type::ExternalConnectionType::FROM_FD, grpc::InsecureServerCredentials());
  if (spec_.tls.enabled()) {
    tls_acceptor_ = builder.experimental().AddExternalConnectionAcceptor(
        grpc::ServerBuilder::experimental_type::ExternalConnectionType::FROM_FD, server_credentials(spec_.tls));
  }
  builder.AddChannelArgument(GRPC_ARG_MAX_CONNECTION_AGE_MS, static_cast<int>(config_.max_connection_age.count()));
  builder.SetMaxReceiveMessageSize(static_cast<int>(std::min<std::uint64_t>(config_.max_receive_message_size, INT32_MAX)));
  builder.SetMaxSendMessageSize(static_cast<int>(std::min<std::uint64_t>(config_.max_send_message_size, INT32_MAX)));
  builder.AddChannelArgument(GRPC_ARG_MAX_METADATA_SIZE,
                             static_cast<int>(std::min<std::uint64_t>(config_.max_metadata_size, INT32_MAX)));
  builder.AddChannelArgument(GRPC_ARG_SERVER_HANDSHAKE_TIMEOUT_MS, static_cast<int>(config_.handshake_timeout.count()));
  if (config_.idle_timeout.count() > 0) {
    builder.AddChannelArgument(GRPC_ARG_MAX_CONNECTION_IDLE_MS, static_cast<int>(config_.idle_timeout.count()));
  }
  builder.AddChannelArgument(GRPC_ARG_HTTP2_MIN_RECV_PING_INTERVAL_WITHOUT_DATA_MS,
                             static_cast<int>(config_.keepalive_min_interval.count()));
  builder.AddChannelArgument(GRPC_ARG_HTTP2_MAX_PING_STRIKES, 2);
  if (config_.max_concurrent_streams > 0) {
    builder.AddChannelArgument(GRPC_ARG_MAX_CONCURRENT_STREAMS, config_.max_concurrent_streams);
  }
  dispatcher_->register_with(builder);
  server_ = builder.BuildAndStart();
  if (!server_) {
    *error = "gRPC failed to build the server (see gRPC's log above)";
    return false;
  }
  dispatcher_->start();
  return true;
}

bool Worker::check_ready(std::string* error) {
  int pair[2];
  if (::socketpair(AF_UNIX, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0, pair) != 0) {
    *error = std::string("socketpair for the readiness check failed: ") + std::strerror(errno);
    return false;
  }
  ExternalAcceptor::NewConnectionParameters params;
  params.fd = pair[0];
  acceptor_->HandleNewConnection(&params);
  auto channel = grpc::CreateInsecureChannelFromFd("gryphon-readiness", pair[1]);
  bool serving = false;
  const grpc::Status status = health_check(channel, config_.startup_timeout, &serving);
  if (!status.ok()) {
    *error = "readiness health check failed: " + status.error_message();
    return false;
  }
  if (!serving) {
    *error = "readiness health check answered NOT_SERVING";
    return false;
  }
  return true;
}

void Worker::start_accepting() {
  for (std::size_t i = 0; i < spec_.listeners.size(); ++i) {
    // Standalone: the process owns the sockets and closes them itself on stop. A worker closes
    // only its inherited copies, which leaves the master's open.
    listeners_.push_back(std::make_unique<boost::asio::posix::stream_descriptor>(io_, spec_.listeners[i].fd));
    accept_timers_.push_back(std::make_unique<boost::asio::steady_timer>(io_));
    accept_on(i);
  }
}

void Worker::accept_on(std::size_t index) {
  auto& listener = *listeners_[index];
  listener.async_wait(boost::asio::posix::stream_descriptor::wait_read, [this, index](const boost::system::error_code& ec) {
    if (ec || draining_) return;
    auto& timer = *accept_timers_[index];
    const int listen_fd = listeners_[index]->native_handle();
    // Soft cap: a worker at max_connections lets a less loaded worker take the connection first,
    // then accepts it anyway if it is still waiting, so nothing stays in the backlog.
    if (config_.max_connections > 0 && connections_.open() >= static_cast<std::size_t>(config_.max_connections)) {
      const auto over = connections_.open() - static_cast<std::size_t>(config_.max_connections) + 1;
      // 10 ms per connection over the cap (at most 100 ms): long enough for a less loaded worker
      // to be scheduled on a busy machine, short enough that a connection never waits long.
      timer.expires_after(std::chrono::milliseconds(std::min<std::size_t>(10 * over, 100)));
      timer.async_wait([this, index](const boost::system::error_code& ec2) {
        if (ec2 || draining_) return;
        const int fd2 = ::accept4(listeners_[index]->native_handle(), nullptr, nullptr, SOCK_NONBLOCK | SOCK_CLOEXEC);
        if (fd2 >= 0) hand_over(fd2, listeners_[index]->native_handle(), !spec_.listeners[index].bound.is_unix());
        accept_on(index);
      });
      return;
    }
    const int fd = ::accept4(listen_fd, nullptr, nullptr, SOCK_NONBLOCK | SOCK_CLOEXEC);
    if (fd >= 0) {
      hand_over(fd, listen_fd, !spec_.listeners[index].bound.is_unix());
    } else if (errno == EMFILE || errno == ENFILE || errno == ENOBUFS || errno == ENOMEM) {
      // Out of descriptors or memory: back off instead of spinning on a readable socket.
      log::process()->warn("accept failed: {}; backing off 100ms (raise the open-file limit or lower load)",
                           std::strerror(errno));
      timer.expires_after(std::chrono::milliseconds(100));
      timer.async_wait([this, index](const boost::system::error_code& ec2) {
        if (!ec2) accept_on(index);
      });
      return;
    }
    accept_on(index);  // EAGAIN: another worker won the race
  });
}

void Worker::hand_over(int fd, int listener_fd, bool tcp) {
  if (tcp) {
    const int one = 1;
    ::setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof(one));
  }
  connections_.watch(fd);
  ExternalAcceptor::NewConnectionParameters params;
  params.listener_fd = listener_fd;
  params.fd = fd;
  (tcp && tls_acceptor_ ? tls_acceptor_ : acceptor_)->HandleNewConnection(&params);
}

void Worker::set_serving(bool serving) { health_->set_serving(serving); }

void Worker::on_control(const std::string& line) {
  if (line == "notserving") {
    set_serving(false);
  } else if (line == "drain") {
    begin_drain("the master asked");
  } else if (line == "reopen") {
    log::reopen();
    if (access_log_) access_log_->reopen();
  }
}

void Worker::on_signal(int signal) {
  switch (signal) {
    case SIGTERM:
      if (standalone_) {
        begin_instance_stop();
      } else {
        begin_drain("SIGTERM");
      }
      break;
    case SIGINT:
      // A terminal's Ctrl-C reaches the whole process group; the master decides what to do.
      if (standalone_) {
        if (stopping_) std::_Exit(1);
        begin_instance_stop();
      }
      break;
    case SIGQUIT:
      log::process()->warn("SIGQUIT: stopping immediately");
      std::_Exit(1);
    case SIGUSR1:
      log::reopen();
      if (access_log_) access_log_->reopen();
      break;
    case SIGHUP:
      if (standalone_) log::process()->warn("SIGHUP ignored: a rolling restart needs --workers 1 or more");
      break;
    default:
      break;
  }
}

WorkerStats Worker::current_stats() const {
  WorkerStats stats;
  if (dispatcher_) {
    const auto& dispatch = dispatcher_->stats();
    stats.in_flight = dispatch.in_flight.load();
    stats.served = dispatch.served.load();
    stats.rejected = dispatch.rejected.load();
  }
  stats.connections = connections_.open();
  stats.rss = resident_bytes();
  return stats;
}

void Worker::heartbeat() {
  const WorkerStats stats = current_stats();
  const std::uint64_t served = stats.served;
  const std::uint64_t rss = stats.rss;
  send("hb inflight=" + std::to_string(stats.in_flight) + " served=" + std::to_string(served) +
       " conns=" + std::to_string(stats.connections) + " rss=" + std::to_string(rss) +
       " rejected=" + std::to_string(stats.rejected));
  if (!recycle_requested_ && !draining_ && !standalone_) {
    if (spec_.max_requests > 0 && served >= spec_.max_requests) {
      recycle_requested_ = true;
      send("recycle requests");
    } else if (config_.max_memory > 0 && rss > config_.max_memory) {
      recycle_requested_ = true;
      send("recycle memory");
    }
  }
  const auto interval = std::clamp(config_.heartbeat_timeout / 4, Duration(50), Duration(1000));
  heartbeat_timer_.expires_after(interval);
  heartbeat_timer_.async_wait([this](const boost::system::error_code& ec) {
    if (!ec) heartbeat();
  });
}

void Worker::begin_instance_stop() {
  if (stopping_) return;
  stopping_ = true;
  systemd::notify("STOPPING=1");
  log::process()->info("stopping: health is NOT_SERVING, serving on for drain-delay {}ms, then draining",
                       config_.drain_delay.count());
  set_serving(false);
  drain_timer_.expires_after(config_.drain_delay);
  drain_timer_.async_wait([this](const boost::system::error_code& ec) {
    if (!ec) begin_drain("instance stop");
  });
}

void Worker::begin_drain(const std::string& reason) {
  if (draining_) return;
  draining_ = true;
  ready_ = false;
  dispatcher_->set_draining();
  send("draining");
  log::process()->info("draining ({}): stopped accepting; waiting for {} connections to close (at most {}ms)", reason,
                       connections_.open(), config_.shutdown_timeout.count());
  for (auto& timer : accept_timers_) timer->cancel();
  for (auto& listener : listeners_) {
    boost::system::error_code ec;
    listener->close(ec);
  }
  drain_deadline_ = Clock::now() + config_.shutdown_timeout;
  poll_drain();
}

void Worker::poll_drain() {
  if (connections_.open() == 0 || Clock::now() >= drain_deadline_) {
    io_.stop();
    return;
  }
  drain_timer_.expires_after(std::chrono::milliseconds(20));
  drain_timer_.async_wait([this](const boost::system::error_code& ec) {
    if (!ec) poll_drain();
  });
}

std::string Worker::render_metrics() {
  // No master: no restarts to count, one slot, and this process's own statistics.
  return RuntimeCounters().render(1, {LiveWorker{0, ::getpid(), ready_, current_stats()}}) + spec_.metrics->render();
}

void Worker::fatal(const std::string& message) {
  log::process()->error("{}", message);
  send("fatal " + message);
}

int Worker::run() {
  block_all_signals();
  if (!standalone_) ::signal(SIGINT, SIG_IGN);  // PR_SET_PDEATHSIG is set right after fork
  ::signal(SIGPIPE, SIG_IGN);
  signals_.emplace(io_, std::initializer_list<int>{SIGTERM, SIGINT, SIGQUIT, SIGUSR1, SIGHUP},
                   [this](int s) { on_signal(s); });
  if (!standalone_) {
    control_.emplace(io_, spec_.control_fd);
    control_->start([this](const std::string& line) { on_control(line); },
                    [this] { begin_drain("the master is gone"); });
    set_process_title(spec_.name + ": worker[" + std::to_string(spec_.slot) + "]");
  }

  if (standalone_ && spec_.metrics != nullptr) {
    try {
      metrics_endpoint_ = std::make_unique<MetricsEndpoint>(io_, config_.metrics_address, [this] { return render_metrics(); });
    } catch (const std::exception& e) {
      fatal(e.what());
      return 1;
    }
  }
  try {
    for (const auto& hook : spec_.hooks.on_worker_start) hook(spec_.slot);
  } catch (const std::exception& e) {
    fatal(std::string("on_worker_start hook failed: ") + e.what());
    return 1;
  }
  // Debian's abseil is built without NDEBUG, so every absl::Mutex (gRPC's locks) keeps a lock-order
  // graph for deadlock detection, a debugging aid that cost about 5% of throughput (DESIGN.md §5).
  absl::SetMutexDeadlockDetectionMode(absl::OnDeadlockCycle::kIgnore);
  std::string error;
  try {
    if (!build_server(&error) || !check_ready(&error)) {
      fatal(error);
      return 1;
    }
  } catch (const std::exception& e) {
    fatal(e.what());
    return 1;
  }
  start_accepting();
  heartbeat();
  if (standalone_) {
    std::string listen;
    for (const auto& l : spec_.listeners) listen += (listen.empty() ? "" : ",") + l.bound.to_string();
    ready_ = true;
    log::process()->info("ready listen={} metrics={} workers=0 pid={}", listen,
                         metrics_endpoint_ ? metrics_endpoint_->address() : "off", ::getpid());
    systemd::notify("READY=1\nSTATUS=ready, one process");
    if (!config_.pid_file.empty()) {
      try {
        pid_file_.emplace(config_.pid_file);
      } catch (const std::exception& e) {
        log::process()->error("{}", e.what());
      }
    }
  } else {
    send("ready");
  }

  io_.run();

  // Drained (or out of time): let gRPC finish what is left by the deadline, then stop.
  dispatcher_->stop_requesting();
  const auto remaining = std::max(drain_deadline_ - Clock::now(), Clock::duration(std::chrono::milliseconds(100)));
  server_->Shutdown(std::chrono::system_clock::now() + remaining);
  dispatcher_->join();
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

int run_worker(const WorkerSpec& spec) {
  Worker worker(spec);
  return worker.run();
}

}  // namespace gryphon::internal
