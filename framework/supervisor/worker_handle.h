// WorkerHandle and Slot: a worker process, and a worker slot, as the master sees them.
//
// A slot is a stable index 0..N-1 that logs and metrics name; a worker is one process serving it.
// During a replacement a slot has two workers: `current` serving and `pending` starting; the
// pending one takes over once ready ("replacement first": capacity never drops).
#pragma once

#include <sys/types.h>

#include <boost/asio/steady_timer.hpp>
#include <chrono>
#include <memory>
#include <string>

#include "control/control_channel.h"
#include "control/control_protocol.h"

namespace gryphon::internal {

using SupervisorClock = std::chrono::steady_clock;

// How long past shutdown-timeout a draining worker may take to exit before it is killed.
inline constexpr std::chrono::seconds kDrainGrace{2};

enum class WorkerState { kStarting, kReady, kDraining };

struct WorkerHandle {
  pid_t pid = 0;
  int slot = 0;
  WorkerState state = WorkerState::kStarting;
  std::unique_ptr<ControlChannel> control;
  SupervisorClock::time_point started;
  SupervisorClock::time_point last_seen;
  SupervisorClock::time_point drain_deadline;
  std::string fatal;    // the reason the worker gave before exiting, if any
  bool killed = false;  // the master killed it (and counted why)
  WorkerStats stats;

  // Marks the worker draining with its deadline; false if it already was.
  bool mark_draining(std::chrono::milliseconds shutdown_timeout) {
    if (state == WorkerState::kDraining) return false;
    state = WorkerState::kDraining;
    drain_deadline = SupervisorClock::now() + shutdown_timeout + kDrainGrace;
    return true;
  }
};

struct Slot {
  pid_t current = 0;  // the worker serving this slot
  pid_t pending = 0;  // its replacement, until ready
  bool retiring = false;
  int failures = 0;  // consecutive deaths before ready, for backoff
  std::unique_ptr<boost::asio::steady_timer> respawn;
};

}  // namespace gryphon::internal
