// Binary upgrade (USR2), both sides of it.
//
// The old master forks and execs the binary (its path resolved at start) with every descriptor the
// new master needs left open and named in the environment: the listening sockets, the /metrics
// socket and the metrics segments, and a pipe on which the new master writes "ready" once all of
// its workers are ready. Then the old master stops as for TERM. If the new master exits before
// it is ready, the old one keeps serving and says why.
//
// The new master takes what it inherited with the take_* functions (each clears its variable, so
// the workers never see it) and, once ready, tells its predecessor with tell_predecessor_ready().
#pragma once

#include <sys/types.h>

#include <array>
#include <boost/asio/io_context.hpp>
#include <boost/asio/posix/stream_descriptor.hpp>
#include <functional>
#include <memory>
#include <string>
#include <vector>

#include "observability/rpc_metrics_store.h"
#include "transport/listen_sockets.h"

namespace gryphon::internal {

// What the old master hands to the new one.
struct UpgradeHandover {
  const std::vector<ListenSocket>& listeners;
  int metrics_fd = -1;          // the /metrics listening socket, -1 with metrics off
  std::string metrics_address;  // as configured, so the new master keeps it only if unchanged
  const RpcMetricsStore* store = nullptr;
};

class BinaryUpgrade {
 public:
  explicit BinaryUpgrade(boost::asio::io_context& io) : io_(io) {}
  bool in_progress() const { return child_ != 0; }
  // Starts the new master; `on_ready` runs once it reported ready. False (logged) if it could not
  // start.
  bool start(const std::string& executable, const std::vector<std::string>& args,
             const UpgradeHandover& handover, std::function<void(pid_t)> on_ready);
  // True if `pid` was the new master, which exited before it was ready (logged with `how`).
  bool child_exited(pid_t pid, const std::string& how);

 private:
  boost::asio::io_context& io_;
  pid_t child_ = 0;
  std::unique_ptr<boost::asio::posix::stream_descriptor> pipe_;
  std::array<char, 64> buffer_{};
};

// The new master's side: descriptions of the inherited listening sockets (for adopt_listeners),
// or null when this process is no upgrade successor.
std::string take_inherited_listeners();
struct InheritedMetrics {
  int socket_fd = -1;    // the /metrics socket, when the configured address is unchanged
  std::string segments;  // for RpcMetricsStore::adopt
};
InheritedMetrics take_inherited_metrics(const std::string& metrics_address);
// True while this master is an upgrade successor that has not yet told its predecessor.
bool is_upgrade_successor();
void tell_predecessor_ready();

}  // namespace gryphon::internal
