#include "supervisor/master.h"

#include <signal.h>
#include <sys/wait.h>
#include <unistd.h>

#include <algorithm>
#include <map>
#include <memory>
#include <optional>

#include "control/control_protocol.h"
#include "instance.h"
#include "observability/logging.h"
#include "observability/metrics_endpoint.h"
#include "observability/rpc_metrics_store.h"
#include "observability/supervisor_metrics.h"
#include "os/pid_file.h"
#include "os/process.h"
#include "os/systemd.h"
#include "supervisor/binary_upgrade.h"
#include "supervisor/rolling_restart.h"
#include "supervisor/spawn.h"
#include "supervisor/worker_handle.h"

namespace gryphon::internal {
namespace {

using Clock = SupervisorClock;

class Master {
 public:
  explicit Master(MasterSpec spec)
      : spec_(std::move(spec)), config_(spec_.config), tls_(spec_.tls), heartbeat_timer_(io_), stop_timer_(io_),
        upgrade_(io_) {}
  int run();

 private:
  pid_t spawn(int slot, bool as_replacement);
  void on_message(pid_t pid, const std::string& line);
  void on_ready(WorkerHandle& worker);
  void on_signal(int signal);
  void reap();
  void on_exit(pid_t pid, int status);
  void schedule_respawn(int slot);
  void replace(int slot);
  void drain(WorkerHandle& worker);
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
  void open_metrics();
  std::string render_metrics();
  void send(WorkerHandle& worker, control::Command command) { worker.control->send(control::encode(command)); }
  WorkerHandle* find(pid_t pid) {
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
  std::map<pid_t, WorkerHandle> workers_;
  std::vector<Slot> slots_;
  RuntimeCounters counters_;
  boost::asio::steady_timer heartbeat_timer_;
  boost::asio::steady_timer stop_timer_;
  std::optional<PidFile> pid_file_;
  RollingRestart rolling_;
  BinaryUpgrade upgrade_;

  bool instance_ready_ = false;
  bool stopping_ = false;
  bool interrupted_ = false;
  bool upgraded_ = false;  // a successor master took over the sockets
  int exit_code_ = 0;
};

// ---------------------------------------------------------------- spawning

pid_t Master::spawn(int slot, bool as_replacement) {
  const WorkerSpec launch{config_,     tls_,        listeners_, spec_.services, spec_.interceptors, spec_.builtins,
                          spec_.hooks, spec_.name, 0,          0,              store_.get()};
  const ForkedWorker forked = fork_worker(launch, slot);
  if (forked.pid == 0) return 0;
  const pid_t pid = forked.pid;
  WorkerHandle& worker = workers_[pid];
  worker.pid = pid;
  worker.slot = slot;
  worker.started = worker.last_seen = Clock::now();
  worker.control = std::make_unique<ControlChannel>(io_, forked.control_fd);
  worker.control->start([this, pid](const std::string& line) { on_message(pid, line); }, [] {});
  (as_replacement ? slots_[slot].pending : slots_[slot].current) = pid;
  logger()->info("worker[{}] started pid={}{}", slot, pid, as_replacement ? " (replacement)" : "");
  return pid;
}

// ---------------------------------------------------------------- worker messages

void Master::on_message(pid_t pid, const std::string& line) {
  WorkerHandle* worker = find(pid);
  if (worker == nullptr) return;
  worker->last_seen = Clock::now();
  const auto message = control::parse_worker_message(line);
  if (!message) {
    logger()->warn("worker[{}] pid={} sent a line that is no control message: '{}'", worker->slot, pid, line);
    return;
  }
  if (const auto* heartbeat = std::get_if<control::Heartbeat>(&*message)) {
    worker->stats = heartbeat->stats;
  } else if (std::holds_alternative<control::Ready>(*message)) {
    on_ready(*worker);
  } else if (std::holds_alternative<control::Draining>(*message)) {
    // The worker began a drain on its own (SIGTERM sent to it): replace it at once.
    Slot& slot = slots_[worker->slot];
    if (worker->mark_draining(config_.shutdown_timeout) && !stopping_ && slot.current == pid && !slot.retiring) {
      counters_.restart("signal");
      slot.current = 0;
      spawn(worker->slot, false);
    }
  } else if (const auto* recycle = std::get_if<control::Recycle>(&*message)) {
    const char* reason = control::reason_name(recycle->reason);
    if (!stopping_ && slots_[worker->slot].current == pid && slots_[worker->slot].pending == 0) {
      logger()->info("worker[{}] pid={} asks to be recycled ({}): starting its replacement", worker->slot, pid, reason);
      counters_.restart(std::string("recycle_") + reason);
      replace(worker->slot);
    }
  } else if (const auto* fatal = std::get_if<control::Fatal>(&*message)) {
    worker->fatal = fatal->message;
  }
}

void Master::on_ready(WorkerHandle& worker) {
  worker.state = WorkerState::kReady;
  Slot& slot = slots_[worker.slot];
  slot.failures = 0;
  logger()->info("worker[{}] pid={} ready in {}ms", worker.slot, worker.pid,
                 std::chrono::duration_cast<std::chrono::milliseconds>(Clock::now() - worker.started).count());
  if (slot.pending == worker.pid) {
    const pid_t old = slot.current;
    slot.current = worker.pid;
    slot.pending = 0;
    WorkerHandle* previous = find(old);
    if (previous != nullptr) drain(*previous);
    if (rolling_.replacing(worker.slot)) {
      if (previous != nullptr) {
        rolling_.wait_for_exit(old);  // the next slot starts once this one has drained
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
    const WorkerHandle* worker = find(slot.current);
    if (worker == nullptr || worker->state != WorkerState::kReady) return;
  }
  instance_ready_ = true;
  announce_ready(config_, listeners_, metrics_ ? metrics_->address() : "off", static_cast<int>(slots_.size()),
                 is_upgrade_successor(), pid_file_);
  tell_predecessor_ready();
}

void Master::drain(WorkerHandle& worker) {
  if (!worker.mark_draining(config_.shutdown_timeout)) return;
  if (!worker.control->send(control::encode(control::Command::kDrain))) ::kill(worker.pid, SIGTERM);
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
  const std::string how = describe_wait_status(status);
  if (upgrade_.child_exited(pid, how)) return;
  auto it = workers_.find(pid);
  if (it == workers_.end()) return;  // an orphan we adopted (the master may be PID 1)
  WorkerHandle worker = std::move(it->second);
  workers_.erase(it);
  // The control channel's pending read still references the io_context; close it and let the
  // loop discard the handler.
  worker.control->close();
  io_.post([control = std::shared_ptr<ControlChannel>(std::move(worker.control))] {});
  counters_.absorb(worker.slot, worker.stats);
  Slot& slot = slots_[worker.slot];
  const std::string why = worker.fatal.empty() ? "" : ": " + worker.fatal;

  if (worker.state == WorkerState::kDraining) {
    logger()->info("worker[{}] pid={} drained and {}", worker.slot, pid, how);
  } else if (!stopping_) {
    logger()->warn("worker[{}] pid={} {}{}", worker.slot, pid, how, why);
  }
  if (slot.pending == pid) {
    slot.pending = 0;
    if (rolling_.replacing(worker.slot)) {
      logger()->error("rolling restart aborted: the new worker[{}] {}{}; the old workers keep serving", worker.slot,
                      how, why);
      systemd::notify("READY=1\nSTATUS=rolling restart aborted; serving with the old workers");
      rolling_.abort();
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
  if (rolling_.exited(pid)) roll_next();
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
      for (auto& [pid, worker] : workers_) send(worker, control::Command::kReopen);
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
  rolling_.abort();
  if (!upgraded_) systemd::notify("STOPPING=1");  // after an upgrade the successor is the main pid
  logger()->info("stopping: workers go NOT_SERVING and serve on for drain-delay {}ms, then drain within "
                 "shutdown-timeout {}ms",
                 config_.drain_delay.count(), config_.shutdown_timeout.count());
  for (auto& [pid, worker] : workers_) send(worker, control::Command::kNotServing);
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
  if (rolling_.active()) {
    logger()->warn("SIGHUP: a rolling restart is already in progress; ignoring");
    return;
  }
  const ReloadedConfig reloaded = reread_config(spec_, config_, static_cast<int>(slots_.size()));
  if (!reloaded.config) {
    logger()->error("SIGHUP: the configuration could not be re-read ({}); keeping the current configuration",
                    reloaded.problem);
  } else {
    if (reloaded.listen_changed) {
      logger()->warn("SIGHUP: listen addresses changed; they take effect only after a restart or binary upgrade (USR2)");
    }
    config_ = *reloaded.config;
    tls_ = reloaded.tls;
  }
  logger()->info("SIGHUP: rolling restart of {} workers, one slot at a time", slots_.size());
  systemd::notify("RELOADING=1\nSTATUS=rolling restart");
  rolling_.begin(static_cast<int>(slots_.size()));
  roll_next();
}

void Master::roll_next() {
  while (const auto next = rolling_.advance()) {
    const int slot = *next;
    if (slot >= static_cast<int>(slots_.size()) || slots_[slot].retiring) continue;
    counters_.restart("rolling");
    if (slots_[slot].pending != 0) return;  // a replacement (recycling) is already starting: it serves
    if (slots_[slot].current == 0) {
      spawn(slot, false);  // the slot was empty (respawn pending): fill it and move on
      continue;
    }
    spawn(slot, true);
    return;
  }
  systemd::notify("READY=1\nSTATUS=ready, " + std::to_string(slots_.size()) + " workers");
  logger()->info("rolling restart complete in {}ms", rolling_.elapsed().count());
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
  if (WorkerHandle* pending = find(slot.pending)) ::kill(pending->pid, SIGKILL);
  if (WorkerHandle* current = find(slot.current)) drain(*current);
  trim_retired_slots();
}

// ---------------------------------------------------------------- binary upgrade (USR2)

void Master::start_upgrade() {
  if (stopping_ || upgrade_.in_progress()) return;
  if (::getpid() == 1) {
    logger()->error("SIGUSR2 refused: this master is PID 1 (a container's init); replacing it would end the "
                    "container. Roll the container instead, or run under an init such as tini");
    return;
  }
  const UpgradeHandover handover{listeners_, metrics_ ? metrics_->fd() : -1, config_.metrics_address, store_.get()};
  upgrade_.start(spec_.executable, spec_.args, handover, [this](pid_t) {
    if (pid_file_) pid_file_->release();
    if (metrics_) metrics_->close();  // the new master shares the socket and the segments
    upgraded_ = true;
    begin_stop();
  });
}

// ---------------------------------------------------------------- metrics

// The metrics store and endpoint; after a binary upgrade, the previous master's socket (when the
// address is unchanged) and segments, so /metrics keeps its address and its totals.
void Master::open_metrics() {
  const InheritedMetrics inherited = take_inherited_metrics(config_.metrics_address);
  if (config_.metrics_address.empty()) return;
  store_ = make_metrics_store(spec_.services);
  if (!inherited.segments.empty()) {
    try {
      store_->adopt(inherited.segments);
      logger()->info("binary upgrade: took over the previous master's metrics segments ({})", inherited.segments);
    } catch (const std::exception& e) {
      logger()->warn("binary upgrade: {}; RPC totals start again from zero", e.what());
    }
  }
  metrics_ = std::make_unique<MetricsEndpoint>(io_, config_.metrics_address, [this] { return render_metrics(); },
                                               inherited.socket_fd);
}

std::string Master::render_metrics() {
  std::vector<LiveWorker> live;
  int desired = 0;
  for (const Slot& slot : slots_) desired += slot.retiring ? 0 : 1;
  for (const auto& [pid, worker] : workers_) {
    live.push_back(LiveWorker{worker.slot, pid, worker.state == WorkerState::kReady, worker.stats});
  }
  return counters_.render(desired, live) + (store_ ? store_->render() : std::string());
}

// ---------------------------------------------------------------- main loop

int Master::run() {
  block_all_signals();
  ::signal(SIGPIPE, SIG_IGN);
  try {
    listeners_ = prepare_instance(config_, take_inherited_listeners());
    open_metrics();
  } catch (const std::exception& e) {
    logger()->error("{}", e.what());
    return 1;
  }
  signals_.emplace(io_,
                   std::initializer_list<int>{SIGCHLD, SIGTERM, SIGINT, SIGQUIT, SIGHUP, SIGUSR1, SIGUSR2, SIGTTIN,
                                              SIGTTOU},
                   [this](int s) { on_signal(s); });
  set_process_title(spec_.name + ": master");
  logger()->info("starting {} workers", config_.workers);
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
