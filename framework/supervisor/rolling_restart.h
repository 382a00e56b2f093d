// RollingRestart: the state of a HUP rolling restart, and the configuration re-read it starts with.
//
// Slots are replaced one at a time, in order: the master starts a replacement for the current
// slot, and once it is ready tells the old worker to drain; the next slot starts when that old
// worker has exited. If a replacement dies before it is ready the restart is aborted and the old
// workers keep serving.
#pragma once

#include <sys/types.h>

#include <chrono>
#include <deque>
#include <optional>
#include <string>

#include "config/config.h"
#include "supervisor/master.h"
#include "transport/tls.h"

namespace gryphon::internal {

class RollingRestart {
 public:
  bool active() const { return active_; }
  // True while `slot` is the one being replaced.
  bool replacing(int slot) const { return active_ && slot_ == slot; }
  void begin(int slots);
  // Moves on to the next queued slot; nullopt (and inactive) once every slot is done.
  std::optional<int> advance();
  // The old worker of the current slot was told to drain: the next slot waits for its exit.
  void wait_for_exit(pid_t old) { old_ = old; }
  // True (once) when `pid` is the old worker the restart waits for.
  bool exited(pid_t pid);
  void abort();
  std::chrono::milliseconds elapsed() const;

 private:
  bool active_ = false;
  std::deque<int> queue_;
  int slot_ = -1;
  pid_t old_ = 0;
  std::chrono::steady_clock::time_point started_;
};

// HUP's re-read of the command line and config file. On success `config` keeps the running
// listen addresses (they change only with a restart or USR2) and worker count.
struct ReloadedConfig {
  std::optional<Config> config;
  TlsMaterial tls;
  std::string problem;  // why the file could not be used, when config is empty
  bool listen_changed = false;
};
ReloadedConfig reread_config(const MasterSpec& spec, const Config& running, int workers);

}  // namespace gryphon::internal
