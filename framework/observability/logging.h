// Server logging: one spdlog logger per role — the master, this worker (named by its slot), and the
// application's own — writing text or JSON lines to stderr or a file.
//
// The master only ever uses synchronous sinks (it starts no threads). setup() is called once per
// process after fork, and again on USR1 to reopen a log file that logrotate moved away.
#pragma once

#include <spdlog/logger.h>

#include <memory>

#include "config/config.h"

namespace gryphon::internal::log {

enum class Role { kMaster, kWorker, kStandalone };

// Installs the loggers for this process. Throws std::runtime_error if the log file can't be opened.
void setup(const Config& config, Role role, int slot = -1);
// Reopens the log file (USR1). No-op when logging to stderr.
void reopen();

// The logger of this process's role ("master" or "worker[N]").
std::shared_ptr<spdlog::logger> process();
// The logger for application code ("app").
std::shared_ptr<spdlog::logger> app();

}  // namespace gryphon::internal::log
