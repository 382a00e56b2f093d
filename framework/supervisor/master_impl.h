// Master: the class behind run_master() (master.h), private to supervisor/. Its definitions are
// split by concern: supervision.cc (spawning, worker messages, exits, respawn, heartbeat checks)
// and master.cc (signals, the instance stop, TTIN/TTOU, /metrics, the main loop, and one-line
// delegators to rolling_restart.cc and binary_upgrade.cc, which hold those two procedures).
// Single-threaded: everything runs on io_.
#pragma once

#include <boost/asio/io_context.hpp>
#include <boost/asio/steady_timer.hpp>
#include <map>
#include <memory>
#include <optional>
#include <string>
#include <vector>

#include "control/control_protocol.h"
#include "observability/logging.h"
#include "observability/metrics_endpoint.h"
#include "observability/rpc_metrics_store.h"
#include "observability/supervisor_metrics.h"
#include "os/pid_file.h"
#include "os/process.h"
#include "supervisor/binary_upgrade.h"
#include "supervisor/master.h"
#include "supervisor/rolling_restart.h"
#include "supervisor/worker_handle.h"

namespace gryphon::internal {

class Master {
 public:
  explicit Master(MasterSpec spec)
      : spec_(std::move(spec)),
        config_(spec_.config),
        tls_(spec_.tls),
        heartbeat_timer_(io_),
        stop_timer_(io_),
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
  void send(WorkerHandle& worker, control::Command command) {
    worker.control->send(control::encode(command));
  }
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
  std::unique_ptr<RpcMetricsStore> store_;
  std::map<pid_t, WorkerHandle> workers_;
  std::vector<Slot> slots_;
  SupervisorMetrics counters_;
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

}  // namespace gryphon::internal
