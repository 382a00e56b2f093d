#include "supervisor/master.h"

#include <signal.h>
#include <sys/wait.h>
#include <unistd.h>

#include "instance/instance.h"
#include "os/systemd.h"
#include "supervisor/master_impl.h"

namespace gryphon::internal {

// ---------------------------------------------------------------- signals

void Master::on_signal(int signal) {
  switch (signal) {
    case SIGCHLD: reap(); break;
    case SIGTERM: begin_stop(); break;
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
    case SIGHUP: start_rolling_restart(); break;
    case SIGUSR1:
      logger()->info("SIGUSR1: reopening log files");
      log::reopen();
      for (auto& [pid, worker] : workers_) send(worker, control::Command::kReopen);
      break;
    case SIGUSR2: start_upgrade(); break;
    case SIGTTIN: add_worker(); break;
    case SIGTTOU: remove_worker(); break;
    default: break;
  }
}

void Master::begin_stop() {
  if (stopping_) return;
  stopping_ = true;
  rolling_.abort();
  if (!upgraded_) systemd::notify("STOPPING=1");  // after an upgrade the successor is the main pid
  logger()->info(
      "stopping: workers go NOT_SERVING and serve on for drain-delay {}ms, then drain within "
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
    logger()->error(
        "SIGHUP: the configuration could not be re-read ({}); keeping the current configuration",
        reloaded.problem);
  } else {
    if (reloaded.listen_changed) {
      logger()->warn(
          "SIGHUP: listen addresses changed; they take effect only after a restart or binary "
          "upgrade (USR2)");
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
    if (slots_[slot].pending != 0)
      return;  // a replacement (recycling) is already starting: it serves
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
    logger()->error(
        "SIGUSR2 refused: this master is PID 1 (a container's init); replacing it would end the "
        "container. Roll the container instead, or run under an init such as tini");
    return;
  }
  const UpgradeHandover handover{listeners_, metrics_ ? metrics_->fd() : -1,
                                 config_.metrics_address, store_.get()};
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
      logger()->info("binary upgrade: took over the previous master's metrics segments ({})",
                     inherited.segments);
    } catch (const std::exception& e) {
      logger()->warn("binary upgrade: {}; RPC totals start again from zero", e.what());
    }
  }
  metrics_ = std::make_unique<MetricsEndpoint>(
      io_, config_.metrics_address, [this] { return render_metrics(); }, inherited.socket_fd);
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
                   std::initializer_list<int>{SIGCHLD, SIGTERM, SIGINT, SIGQUIT, SIGHUP, SIGUSR1,
                                              SIGUSR2, SIGTTIN, SIGTTOU},
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

int run_master(MasterSpec spec) {
  Master master(std::move(spec));
  return master.run();
}

}  // namespace gryphon::internal
