#include "master.h"

#include <dirent.h>
#include <fcntl.h>
#include <grpc/grpc.h>
#include <signal.h>
#include <sys/prctl.h>
#include <sys/socket.h>
#include <sys/wait.h>
#include <unistd.h>

#include <boost/asio/posix/stream_descriptor.hpp>
#include <boost/asio/steady_timer.hpp>
#include <algorithm>
#include <array>
#include <cstring>
#include <deque>
#include <map>
#include <memory>
#include <optional>
#include <random>
#include <sstream>

#include "control.h"
#include "listener.h"
#include "logging.h"
#include "metrics_endpoint.h"
#include "metrics_store.h"
#include "pid_file.h"
#include "process.h"
#include "runtime_metrics.h"
#include "systemd.h"
#include "worker.h"

namespace gryphon::internal {
namespace {

using Clock = std::chrono::steady_clock;

constexpr const char* kInheritEnv = "GRYPHON_INHERIT_LISTENERS";
constexpr const char* kUpgradeFdEnv = "GRYPHON_UPGRADE_NOTIFY_FD";
// The /metrics listening socket ("configured-address=fd") and the metrics segments ("slot:fd,…")
// handed to the new master by a binary upgrade, so scrapes keep their address and totals.
constexpr const char* kInheritMetricsEnv = "GRYPHON_INHERIT_METRICS";
constexpr const char* kInheritSegmentsEnv = "GRYPHON_INHERIT_METRICS_SEGMENTS";

enum class WorkerState { kStarting, kReady, kDraining };

struct WorkerProc {
  pid_t pid = 0;
  int slot = 0;
  WorkerState state = WorkerState::kStarting;
  std::unique_ptr<ControlChannel> control;
  Clock::time_point started;
  Clock::time_point last_seen;
  Clock::time_point drain_deadline;
  std::string fatal;    // the reason the worker gave before exiting, if any
  bool killed = false;  // the master killed it (and counted why)
  WorkerStats stats;
};

struct Slot {
  pid_t current = 0;  // the worker serving this slot
  pid_t pending = 0;  // its replacement, until ready
  bool retiring = false;
  int failures = 0;   // consecutive deaths before ready, for backoff
  std::unique_ptr<boost::asio::steady_timer> respawn;
};

class Master {
 public:
  explicit Master(MasterSpec spec)
      : spec_(std::move(spec)), config_(spec_.config), tls_(spec_.tls), heartbeat_timer_(io_), stop_timer_(io_) {}
  int run();

 private:
  pid_t spawn(int slot, bool as_replacement);
  [[noreturn]] void become_worker(int slot, int control_fd);
  void on_line(pid_t pid, const std::string& line);
  void on_ready(WorkerProc& worker);
  void on_signal(int signal);
  void reap();
  void on_exit(pid_t pid, int status);
  void schedule_respawn(int slot);
  void replace(int slot);
  void drain(WorkerProc& worker);
  void check_workers();
  void check_instance_ready();
  void begin_stop();
  void stop_now(int code);
  void finish_if_stopped();
  void start_rolling_restart();
  void roll_next();
  void start_upgrade();
  void add_worker();
  void remove_worker();
  void trim_retired_slots();
  std::string render_metrics();
  void open_metrics();
  WorkerProc* find(pid_t pid) {
    auto it = workers_.find(pid);
    return it == workers_.end() ? nullptr : &it->second;
  }
  std::shared_ptr<spdlog::logger> logger() { return log::process(); }

  MasterSpec spec_;
  Config config_;
  TlsMaterial tls_;
  boost::asio::io_context io_;
  std::optional<SignalWatcher> signals_;
  std::vector<ListenSocket> listeners_;
  std::unique_ptr<MetricsEndpoint> metrics_;
  std::unique_ptr<MetricsStore> store_;
  std::map<pid_t, WorkerProc> workers_;
  std::vector<Slot> slots_;
  RuntimeCounters counters_;
  boost::asio::steady_timer heartbeat_timer_;
  boost::asio::steady_timer stop_timer_;
  std::optional<PidFile> pid_file_;

  bool instance_ready_ = false;
  bool stopping_ = false;
  bool interrupted_ = false;
  int exit_code_ = 0;
  std::deque<int> roll_queue_;
  bool rolling_ = false;
  int roll_slot_ = -1;   // the slot being replaced by the rolling restart
  pid_t roll_old_ = 0;   // its old worker, once told to drain
  Clock::time_point roll_started_;
  pid_t upgrade_child_ = 0;
  bool upgraded_ = false;  // a successor master took over the sockets
  std::unique_ptr<boost::asio::posix::stream_descriptor> upgrade_pipe_;
  std::array<char, 64> upgrade_buffer_{};
};

// ---------------------------------------------------------------- spawning

pid_t Master::spawn(int slot, bool as_replacement) {
  if (store_) store_->ensure_slot(slot);  // mapped before the fork, so the worker inherits it
  for (const auto& hook : spec_.hooks.before_fork) hook();
  if (grpc_is_initialized() != 0) {
    logger()->critical("gRPC is initialised in the master (by a before_fork hook or a static initialiser?): "
                       "forking now would break the workers; aborting. Create gRPC objects in on_worker_start");
    std::abort();
  }
  int pair[2];
  if (::socketpair(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0, pair) != 0) {
    logger()->error("socketpair for worker[{}] failed: {}", slot, std::strerror(errno));
    return 0;
  }
  const pid_t pid = ::fork();
  if (pid < 0) {
    logger()->error("fork for worker[{}] failed: {}", slot, std::strerror(errno));
    ::close(pair[0]);
    ::close(pair[1]);
    return 0;
  }
  if (pid == 0) {
    ::close(pair[0]);
    become_worker(slot, pair[1]);
  }
  ::close(pair[1]);
  WorkerProc& worker = workers_[pid];
  worker.pid = pid;
  worker.slot = slot;
  worker.started = worker.last_seen = Clock::now();
  worker.control = std::make_unique<ControlChannel>(io_, pair[0]);
  worker.control->start([this, pid](const std::string& line) { on_line(pid, line); }, [] {});
  (as_replacement ? slots_[slot].pending : slots_[slot].current) = pid;
  logger()->info("worker[{}] started pid={}{}", slot, pid, as_replacement ? " (replacement)" : "");
  return pid;
}

void Master::become_worker(int slot, int control_fd) {
  // Close every descriptor not meant for the worker: other workers' control sockets, the
  // master's signalfd, epoll and metrics sockets.
  std::vector<int> keep{0, 1, 2, control_fd};
  for (const auto& l : listeners_) keep.push_back(l.fd);
  if (DIR* dir = ::opendir("/proc/self/fd")) {
    std::vector<int> to_close;
    while (dirent* entry = ::readdir(dir)) {
      const int fd = std::atoi(entry->d_name);
      if (entry->d_name[0] == '.' || fd == ::dirfd(dir)) continue;
      if (std::find(keep.begin(), keep.end(), fd) == keep.end()) to_close.push_back(fd);
    }
    ::closedir(dir);
    for (int fd : to_close) ::close(fd);
  }
  ::srand(static_cast<unsigned>(::getpid() ^ std::chrono::system_clock::now().time_since_epoch().count()));
  const pid_t master = ::getppid();
  int code = 1;
  try {
    log::setup(config_, log::Role::kWorker, slot);
    std::uint64_t max_requests = config_.max_requests;
    if (max_requests > 0 && config_.max_requests_jitter > 0) {
      std::mt19937_64 random(std::random_device{}() ^ static_cast<std::uint64_t>(::getpid()));
      max_requests += random() % (config_.max_requests_jitter + 1);
    }
    WorkerSpec spec{config_, tls_, listeners_, spec_.services, spec_.interceptors, spec_.hooks, spec_.name, slot,
                    control_fd, max_requests, store_.get()};
    // The death signal first, then the check: a master that died in between is noticed either way.
    ::prctl(PR_SET_PDEATHSIG, SIGTERM);
    if (::getppid() != master) std::_Exit(1);
    code = run_worker(spec);
  } catch (const std::exception& e) {
    log::process()->error("worker failed: {}", e.what());
    const std::string line = std::string("fatal ") + e.what() + "\n";
    (void)!::write(control_fd, line.data(), line.size());
  }
  log::process()->flush();
  std::_Exit(code);
}

// ---------------------------------------------------------------- worker messages

void Master::on_line(pid_t pid, const std::string& line) {
  WorkerProc* worker = find(pid);
  if (worker == nullptr) return;
  worker->last_seen = Clock::now();
  const std::string kind = line.substr(0, line.find(' '));
  if (kind == "hb") {
    worker->stats.update(parse_fields(line));
  } else if (kind == "ready") {
    on_ready(*worker);
  } else if (kind == "draining") {
    Slot& slot = slots_[worker->slot];
    if (worker->state != WorkerState::kDraining) {
      // The worker began a drain on its own (SIGTERM sent to it): replace it at once.
      worker->state = WorkerState::kDraining;
      worker->drain_deadline = Clock::now() + config_.shutdown_timeout + std::chrono::seconds(2);
      if (!stopping_ && slot.current == pid && !slot.retiring) {
        counters_.restart("signal");
        slot.current = 0;
        spawn(worker->slot, false);
      }
    }
  } else if (kind == "recycle") {
    const std::string reason = line.size() > 8 ? line.substr(8) : "requests";
    if (!stopping_ && slots_[worker->slot].current == pid && slots_[worker->slot].pending == 0) {
      logger()->info("worker[{}] pid={} asks to be recycled ({}): starting its replacement", worker->slot, pid, reason);
      counters_.restart("recycle_" + reason);
      replace(worker->slot);
    }
  } else if (kind == "fatal") {
    worker->fatal = line.size() > 6 ? line.substr(6) : "unknown error";
  }
}

void Master::on_ready(WorkerProc& worker) {
  worker.state = WorkerState::kReady;
  Slot& slot = slots_[worker.slot];
  slot.failures = 0;
  logger()->info("worker[{}] pid={} ready in {}ms", worker.slot, worker.pid,
              std::chrono::duration_cast<std::chrono::milliseconds>(Clock::now() - worker.started).count());
  if (slot.pending == worker.pid) {
    const pid_t old = slot.current;
    slot.current = worker.pid;
    slot.pending = 0;
    WorkerProc* previous = find(old);
    if (previous != nullptr) drain(*previous);
    if (rolling_ && worker.slot == roll_slot_) {
      if (previous != nullptr) {
        roll_old_ = old;  // the next slot starts once this one has drained
      } else {
        roll_next();
      }
    }
  }
  if (stopping_) drain(worker);
  check_instance_ready();
}

void Master::check_instance_ready() {
  if (instance_ready_) return;
  for (const Slot& slot : slots_) {
    const WorkerProc* worker = find(slot.current);
    if (worker == nullptr || worker->state != WorkerState::kReady) return;
  }
  instance_ready_ = true;
  std::string listen;
  for (const auto& l : listeners_) listen += (listen.empty() ? "" : ",") + l.bound.to_string();
  logger()->info("ready listen={} metrics={} workers={} pid={}", listen, metrics_ ? metrics_->address() : "off",
              slots_.size(), ::getpid());
  if (!config_.pid_file.empty()) {
    try {
      pid_file_.emplace(config_.pid_file);
    } catch (const std::exception& e) {
      logger()->error("{}", e.what());
    }
  }
  std::string state = "READY=1\nSTATUS=ready, " + std::to_string(slots_.size()) + " workers";
  if (std::getenv(kUpgradeFdEnv) != nullptr) state += "\nMAINPID=" + std::to_string(::getpid());
  systemd::notify(state);
  if (const char* fd_text = std::getenv(kUpgradeFdEnv)) {
    const int fd = std::atoi(fd_text);
    (void)!::write(fd, "ready\n", 6);
    ::close(fd);
    ::unsetenv(kUpgradeFdEnv);
  }
}

void Master::drain(WorkerProc& worker) {
  if (worker.state == WorkerState::kDraining) return;
  worker.state = WorkerState::kDraining;
  worker.drain_deadline = Clock::now() + config_.shutdown_timeout + std::chrono::seconds(2);
  if (!worker.control->send("drain")) ::kill(worker.pid, SIGTERM);
}

void Master::replace(int slot) {
  if (slots_[slot].pending == 0) spawn(slot, true);
}

// ---------------------------------------------------------------- exits and supervision

void Master::reap() {
  int status = 0;
  pid_t pid;
  while ((pid = ::waitpid(-1, &status, WNOHANG)) > 0) on_exit(pid, status);
  finish_if_stopped();
}

void Master::on_exit(pid_t pid, int status) {
  if (pid == upgrade_child_) {
    logger()->error("binary upgrade failed: the new master {} before it was ready; this master keeps serving",
                 describe_wait_status(status));
    upgrade_child_ = 0;
    if (upgrade_pipe_) upgrade_pipe_->close();
    return;
  }
  auto it = workers_.find(pid);
  if (it == workers_.end()) return;  // an orphan we adopted (the master may be PID 1)
  WorkerProc worker = std::move(it->second);
  workers_.erase(it);
  // The control channel's pending read still references the io_context; close it and let the
  // loop discard the handler.
  worker.control->close();
  io_.post([control = std::shared_ptr<ControlChannel>(std::move(worker.control))] {});
  counters_.absorb(worker.slot, worker.stats);
  Slot& slot = slots_[worker.slot];
  const std::string how = describe_wait_status(status);
  const std::string why = worker.fatal.empty() ? "" : ": " + worker.fatal;

  if (worker.state == WorkerState::kDraining) {
    logger()->info("worker[{}] pid={} drained and {}", worker.slot, pid, how);
  } else if (!stopping_) {
    logger()->warn("worker[{}] pid={} {}{}", worker.slot, pid, how, why);
  }
  if (slot.pending == pid) {
    slot.pending = 0;
    if (rolling_ && worker.slot == roll_slot_) {
      logger()->error("rolling restart aborted: the new worker[{}] {}{}; the old workers keep serving", worker.slot, how, why);
      systemd::notify("READY=1\nSTATUS=rolling restart aborted; serving with the old workers");
      rolling_ = false;
      roll_slot_ = -1;
      roll_queue_.clear();
    }
  }
  if (slot.current == pid) {
    slot.current = 0;
    if (!stopping_ && !slot.retiring) {
      if (!instance_ready_) {
        logger()->error("worker[{}] failed during start-up ({}{}); stopping the instance", worker.slot, how, why);
        stop_now(1);
        return;
      }
      if (!worker.killed) counters_.restart(WIFSIGNALED(status) ? "crash" : "exit");
      schedule_respawn(worker.slot);
    }
  }
  if (rolling_ && roll_old_ == pid) {
    roll_old_ = 0;
    roll_next();
  }
  trim_retired_slots();
}

void Master::trim_retired_slots() {
  while (!slots_.empty() && slots_.back().retiring && slots_.back().current == 0 && slots_.back().pending == 0) {
    slots_.pop_back();
    logger()->info("now {} workers", slots_.size());
  }
}

void Master::schedule_respawn(int index) {
  Slot& slot = slots_[index];
  const int failures = slot.failures++;
  const auto delay = std::chrono::milliseconds(std::min(10'000, 100 * (1 << std::min(failures, 7))));
  logger()->info("respawning worker[{}] in {}ms", index, delay.count());
  if (!slot.respawn) slot.respawn = std::make_unique<boost::asio::steady_timer>(io_);
  slot.respawn->expires_after(delay);
  slot.respawn->async_wait([this, index](const boost::system::error_code& ec) {
    if (ec || stopping_ || index >= static_cast<int>(slots_.size())) return;
    if (slots_[index].current == 0 && slots_[index].pending == 0 && !slots_[index].retiring) spawn(index, false);
  });
}

void Master::check_workers() {
  const auto now = Clock::now();
  for (auto& [pid, worker] : workers_) {
    if (worker.killed) continue;
    const char* reason = nullptr;
    if (worker.state == WorkerState::kDraining) {
      if (now > worker.drain_deadline) reason = "did not drain within shutdown-timeout";
    } else if (worker.state == WorkerState::kStarting) {
      if (now - worker.started > config_.startup_timeout) reason = "not ready within startup-timeout";
    } else if (now - worker.last_seen > config_.heartbeat_timeout) {
      reason = "no heartbeat within heartbeat-timeout";
    }
    if (reason != nullptr) {
      logger()->warn("worker[{}] pid={} {}: killing it", worker.slot, pid, reason);
      if (worker.state == WorkerState::kReady) counters_.restart("heartbeat");
      if (worker.fatal.empty()) worker.fatal = reason;
      worker.killed = true;
      ::kill(pid, SIGKILL);
    }
  }
  heartbeat_timer_.expires_after(std::chrono::milliseconds(100));
  heartbeat_timer_.async_wait([this](const boost::system::error_code& ec) {
    if (!ec) check_workers();
  });
}

// ---------------------------------------------------------------- signals

void Master::on_signal(int signal) {
  switch (signal) {
    case SIGCHLD:
      reap();
      break;
    case SIGTERM:
      begin_stop();
      break;
    case SIGINT:
      if (interrupted_) {
        logger()->warn("second SIGINT: stopping immediately");
        stop_now(1);
      } else {
        interrupted_ = true;
        begin_stop();
      }
      break;
    case SIGQUIT:
      logger()->warn("SIGQUIT: stopping immediately");
      stop_now(1);
      break;
    case SIGHUP:
      start_rolling_restart();
      break;
    case SIGUSR1:
      logger()->info("SIGUSR1: reopening log files");
      log::reopen();
      for (auto& [pid, worker] : workers_) worker.control->send("reopen");
      break;
    case SIGUSR2:
      start_upgrade();
      break;
    case SIGTTIN:
      add_worker();
      break;
    case SIGTTOU:
      remove_worker();
      break;
    default:
      break;
  }
}

void Master::begin_stop() {
  if (stopping_) return;
  stopping_ = true;
  rolling_ = false;
  roll_slot_ = -1;
  roll_queue_.clear();
  if (!upgraded_) systemd::notify("STOPPING=1");  // after an upgrade the successor is the main pid
  logger()->info("stopping: workers go NOT_SERVING and serve on for drain-delay {}ms, then drain within shutdown-timeout {}ms",
              config_.drain_delay.count(), config_.shutdown_timeout.count());
  for (auto& [pid, worker] : workers_) worker.control->send("notserving");
  stop_timer_.expires_after(config_.drain_delay);
  stop_timer_.async_wait([this](const boost::system::error_code& ec) {
    if (ec) return;
    close_listeners(listeners_);
    for (auto& [pid, worker] : workers_) drain(worker);
    finish_if_stopped();
  });
}

void Master::stop_now(int code) {
  stopping_ = true;
  exit_code_ = code;
  for (auto& [pid, worker] : workers_) ::kill(pid, SIGKILL);
  close_listeners(listeners_);
  while (!workers_.empty()) {
    int status = 0;
    const pid_t pid = ::waitpid(-1, &status, 0);
    if (pid < 0) break;
    workers_.erase(pid);
  }
  io_.stop();
}

void Master::finish_if_stopped() {
  if (stopping_ && workers_.empty()) {
    logger()->info("stopped");
    io_.stop();
  }
}

// ---------------------------------------------------------------- rolling restart, TTIN/TTOU

void Master::start_rolling_restart() {
  if (stopping_) return;
  if (rolling_) {
    logger()->warn("SIGHUP: a rolling restart is already in progress; ignoring");
    return;
  }
  std::vector<const char*> argv;
  for (const auto& arg : spec_.args) argv.push_back(arg.c_str());
  const ParseResult reloaded = parse_config(static_cast<int>(argv.size()), argv.data(), spec_.name);
  std::string problem = reloaded.config ? "" : reloaded.message;
  TlsMaterial tls;
  if (reloaded.config) {
    try {
      tls = load_tls(*reloaded.config);
    } catch (const std::invalid_argument& e) {
      problem = e.what();
    }
  }
  if (!problem.empty()) {
    logger()->error("SIGHUP: the configuration could not be re-read ({}); keeping the current configuration", problem);
  } else {
    tls_ = tls;
    if (reloaded.config->listen != config_.listen) {
      logger()->warn("SIGHUP: listen addresses changed; they take effect only after a restart or binary upgrade (USR2)");
    }
    const auto listen = config_.listen;
    config_ = *reloaded.config;
    config_.listen = listen;
    config_.workers = static_cast<int>(slots_.size());
  }
  logger()->info("SIGHUP: rolling restart of {} workers, one slot at a time", slots_.size());
  systemd::notify("RELOADING=1\nSTATUS=rolling restart");
  rolling_ = true;
  roll_started_ = Clock::now();
  for (int i = 0; i < static_cast<int>(slots_.size()); ++i) roll_queue_.push_back(i);
  roll_next();
}

void Master::roll_next() {
  while (!roll_queue_.empty()) {
    const int slot = roll_queue_.front();
    roll_queue_.pop_front();
    if (slot >= static_cast<int>(slots_.size()) || slots_[slot].retiring) continue;
    counters_.restart("rolling");
    roll_slot_ = slot;
    if (slots_[slot].pending != 0) return;  // a replacement (recycling) is already starting: it serves
    if (slots_[slot].current == 0) {
      spawn(slot, false);  // the slot was empty (respawn pending): fill it and move on
      continue;
    }
    spawn(slot, true);
    return;
  }
  rolling_ = false;
  roll_slot_ = -1;
  systemd::notify("READY=1\nSTATUS=ready, " + std::to_string(slots_.size()) + " workers");
  logger()->info("rolling restart complete in {}ms",
              std::chrono::duration_cast<std::chrono::milliseconds>(Clock::now() - roll_started_).count());
}

void Master::add_worker() {
  if (stopping_) return;
  slots_.emplace_back();
  logger()->info("SIGTTIN: adding worker[{}]", slots_.size() - 1);
  spawn(static_cast<int>(slots_.size() - 1), false);
}

void Master::remove_worker() {
  if (stopping_) return;
  int active = 0;
  for (const Slot& slot : slots_) active += slot.retiring ? 0 : 1;
  if (active <= 1) {
    logger()->warn("SIGTTOU: keeping the last worker");
    return;
  }
  int index = static_cast<int>(slots_.size()) - 1;
  while (slots_[index].retiring) --index;
  Slot& slot = slots_[index];
  slot.retiring = true;
  logger()->info("SIGTTOU: draining worker[{}]", index);
  if (WorkerProc* pending = find(slot.pending)) ::kill(pending->pid, SIGKILL);
  if (WorkerProc* current = find(slot.current)) drain(*current);
  trim_retired_slots();
}

// ---------------------------------------------------------------- binary upgrade (USR2)

void Master::start_upgrade() {
  if (stopping_ || upgrade_child_ != 0) return;
  if (::getpid() == 1) {
    logger()->error("SIGUSR2 refused: this master is PID 1 (a container's init); replacing it would end the "
                 "container. Roll the container instead, or run under an init such as tini");
    return;
  }
  int pipe_fds[2];
  if (::pipe2(pipe_fds, O_CLOEXEC) != 0) {
    logger()->error("SIGUSR2: pipe failed: {}", std::strerror(errno));
    return;
  }
  const std::string inherit = describe_for_inheritance(listeners_);
  const pid_t pid = ::fork();
  if (pid < 0) {
    logger()->error("SIGUSR2: fork failed: {}", std::strerror(errno));
    return;
  }
  if (pid == 0) {
    for (const auto& l : listeners_) ::fcntl(l.fd, F_SETFD, 0);
    ::fcntl(pipe_fds[1], F_SETFD, 0);
    ::setenv(kInheritEnv, inherit.c_str(), 1);
    if (metrics_) {
      ::fcntl(metrics_->fd(), F_SETFD, 0);
      ::setenv(kInheritMetricsEnv, (config_.metrics_address + "=" + std::to_string(metrics_->fd())).c_str(), 1);
    }
    if (store_) {
      for (int fd : store_->fds()) ::fcntl(fd, F_SETFD, 0);
      ::setenv(kInheritSegmentsEnv, store_->describe_for_inheritance().c_str(), 1);
    }
    ::setenv(kUpgradeFdEnv, std::to_string(pipe_fds[1]).c_str(), 1);
    unblock_all_signals();
    std::vector<char*> argv;
    for (const auto& arg : spec_.args) argv.push_back(const_cast<char*>(arg.c_str()));
    argv.push_back(nullptr);
    ::execv(spec_.executable.c_str(), argv.data());
    std::_Exit(127);
  }
  ::close(pipe_fds[1]);
  upgrade_child_ = pid;
  logger()->info("SIGUSR2: binary upgrade: started new master pid={} from {}", pid, spec_.executable);
  upgrade_pipe_ = std::make_unique<boost::asio::posix::stream_descriptor>(io_, pipe_fds[0]);
  upgrade_pipe_->async_read_some(boost::asio::buffer(upgrade_buffer_), [this, pid](const boost::system::error_code& ec, std::size_t n) {
    if (!ec && n > 0 && std::string(upgrade_buffer_.data(), n).rfind("ready", 0) == 0) {
      logger()->info("binary upgrade: new master pid={} is ready; this master stops now", pid);
      if (pid_file_) pid_file_->release();
      if (metrics_) metrics_->close();  // the new master shares the socket and the segments
      upgrade_child_ = 0;
      upgraded_ = true;
      begin_stop();
    }
  });
}

// ---------------------------------------------------------------- metrics

std::string Master::render_metrics() {
  std::vector<LiveWorker> live;
  int desired = 0;
  for (const Slot& slot : slots_) desired += slot.retiring ? 0 : 1;
  for (const auto& [pid, worker] : workers_) {
    live.push_back(LiveWorker{worker.slot, pid, worker.state == WorkerState::kReady, worker.stats});
  }
  return counters_.render(desired, live) + (store_ ? store_->render() : std::string());
}

// The metrics store and endpoint; after a binary upgrade, the previous master's socket (when the
// address is unchanged) and segments, so /metrics keeps its address and its totals.
void Master::open_metrics() {
  const char* inherited_socket = std::getenv(kInheritMetricsEnv);
  const char* inherited_segments = std::getenv(kInheritSegmentsEnv);
  int socket_fd = -1;
  if (inherited_socket != nullptr) {
    const std::string text = inherited_socket;
    const auto eq = text.rfind('=');
    if (eq != std::string::npos) {
      const int fd = std::atoi(text.c_str() + eq + 1);
      if (text.substr(0, eq) == config_.metrics_address) {
        socket_fd = fd;
      } else {
        ::close(fd);  // the address changed with the configuration: bind the new one
      }
    }
  }
  ::unsetenv(kInheritMetricsEnv);
  const std::string segments = inherited_segments != nullptr ? inherited_segments : "";
  ::unsetenv(kInheritSegmentsEnv);
  if (config_.metrics_address.empty()) {
    std::istringstream in(segments);
    for (std::string entry; std::getline(in, entry, ',');) {
      if (const auto colon = entry.find(':'); colon != std::string::npos) ::close(std::atoi(entry.c_str() + colon + 1));
    }
    return;
  }
  store_ = make_metrics_store(spec_.services);
  if (!segments.empty()) {
    try {
      store_->adopt(segments);
      logger()->info("binary upgrade: took over the previous master's metrics segments ({})", segments);
    } catch (const std::exception& e) {
      logger()->warn("binary upgrade: {}; RPC totals start again from zero", e.what());
    }
  }
  metrics_ = std::make_unique<MetricsEndpoint>(io_, config_.metrics_address, [this] { return render_metrics(); },
                                               socket_fd);
}

// ---------------------------------------------------------------- main loop

int Master::run() {
  block_all_signals();
  ::signal(SIGPIPE, SIG_IGN);
  const std::uint64_t files = raise_open_file_limit();
  if (files < static_cast<std::uint64_t>(config_.max_open_files)) {
    logger()->error("the open-file limit is {} but --max-open-files asks for {}: raise the hard limit "
                    "(ulimit -Hn, LimitNOFILE= in systemd) or lower --max-open-files", files, config_.max_open_files);
    return 1;
  }
  try {
    if (!config_.pid_file.empty()) PidFile::ensure_free(config_.pid_file);
    if (const std::vector<int> passed = systemd::take_listen_fds(); !passed.empty()) {
      listeners_ = passed_listeners(passed);
      logger()->info("serving on {} sockets passed by systemd (LISTEN_FDS); --listen is not used", passed.size());
    } else {
      listeners_ = adopt_listeners(config_.listen, config_.unix_socket_mode, std::getenv(kInheritEnv));
    }
    ::unsetenv(kInheritEnv);
    open_metrics();
  } catch (const std::exception& e) {
    logger()->error("{}", e.what());
    return 1;
  }
  signals_.emplace(io_, std::initializer_list<int>{SIGCHLD, SIGTERM, SIGINT, SIGQUIT, SIGHUP, SIGUSR1, SIGUSR2,
                                                   SIGTTIN, SIGTTOU},
                   [this](int s) { on_signal(s); });
  set_process_title(spec_.name + ": master");
  logger()->info("starting {} workers (open-file limit {})", config_.workers, files);
  slots_.resize(static_cast<std::size_t>(config_.workers));
  for (int i = 0; i < config_.workers && !stopping_; ++i) spawn(i, false);
  check_workers();
  io_.run();

  for (auto& [pid, worker] : workers_) ::kill(pid, SIGKILL);
  close_listeners(listeners_);
  for (const auto& text : config_.listen) {
    const ListenAddress address = ListenAddress::parse(text);
    if (address.is_unix() && !upgraded_) ::unlink(address.path.c_str());
  }
  pid_file_.reset();
  return exit_code_;
}

}  // namespace

int run_master(MasterSpec spec) {
  Master master(std::move(spec));
  return master.run();
}

}  // namespace gryphon::internal
