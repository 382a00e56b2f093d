#include <signal.h>
#include <sys/wait.h>
#include <unistd.h>

#include <algorithm>

#include "instance/instance.h"
#include "os/systemd.h"
#include "supervisor/master_impl.h"
#include "supervisor/spawn.h"

namespace gryphon::internal {

using Clock = SupervisorClock;

// ---------------------------------------------------------------- spawning

pid_t Master::spawn(int slot, bool as_replacement) {
  const WorkerSpec launch{
      config_,    tls_, listeners_, spec_.services, spec_.interceptors, spec_.builtins, spec_.hooks,
      spec_.name, 0,    0,          store_.get()};
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
    logger()->warn("worker[{}] pid={} sent a line that is no control message: '{}'", worker->slot,
                   pid, line);
    return;
  }
  if (const auto* heartbeat = std::get_if<control::Heartbeat>(&*message)) {
    worker->stats = heartbeat->stats;
  } else if (std::holds_alternative<control::Ready>(*message)) {
    on_ready(*worker);
  } else if (std::holds_alternative<control::Draining>(*message)) {
    // The worker began a drain on its own (SIGTERM sent to it): replace it at once.
    Slot& slot = slots_[worker->slot];
    if (worker->mark_draining(config_.shutdown_timeout) && !stopping_ && slot.current == pid &&
        !slot.retiring) {
      counters_.restart("signal");
      slot.current = 0;
      spawn(worker->slot, false);
    }
  } else if (const auto* recycle = std::get_if<control::Recycle>(&*message)) {
    const char* reason = control::reason_name(recycle->reason);
    if (!stopping_ && slots_[worker->slot].current == pid && slots_[worker->slot].pending == 0) {
      logger()->info("worker[{}] pid={} asks to be recycled ({}): starting its replacement",
                     worker->slot, pid, reason);
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
  logger()->info(
      "worker[{}] pid={} ready in {}ms", worker.slot, worker.pid,
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
  announce_ready(config_, listeners_, metrics_ ? metrics_->address() : "off",
                 static_cast<int>(slots_.size()), is_upgrade_successor(), pid_file_);
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
      logger()->error(
          "rolling restart aborted: the new worker[{}] {}{}; the old workers keep serving",
          worker.slot, how, why);
      systemd::notify("READY=1\nSTATUS=rolling restart aborted; serving with the old workers");
      rolling_.abort();
    }
  }
  if (slot.current == pid) {
    slot.current = 0;
    if (!stopping_ && !slot.retiring) {
      if (!instance_ready_) {
        logger()->error("worker[{}] failed during start-up ({}{}); stopping the instance",
                        worker.slot, how, why);
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
  while (!slots_.empty() && slots_.back().retiring && slots_.back().current == 0 &&
         slots_.back().pending == 0) {
    slots_.pop_back();
    logger()->info("now {} workers", slots_.size());
  }
}

void Master::schedule_respawn(int index) {
  Slot& slot = slots_[index];
  const int failures = slot.failures++;
  const auto delay =
      std::chrono::milliseconds(std::min(10'000, 100 * (1 << std::min(failures, 7))));
  logger()->info("respawning worker[{}] in {}ms", index, delay.count());
  if (!slot.respawn) slot.respawn = std::make_unique<boost::asio::steady_timer>(io_);
  slot.respawn->expires_after(delay);
  slot.respawn->async_wait([this, index](const boost::system::error_code& ec) {
    if (ec || stopping_ || index >= static_cast<int>(slots_.size())) return;
    if (slots_[index].current == 0 && slots_[index].pending == 0 && !slots_[index].retiring)
      spawn(index, false);
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
      if (now - worker.started > config_.startup_timeout)
        reason = "not ready within startup-timeout";
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

}  // namespace gryphon::internal
