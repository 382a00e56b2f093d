// MasterLink: the WorkerHost of a worker forked by the master. Commands arrive on the slot's
// control socket (control_protocol.h); the worker's messages go back on it. SIGTERM drains the
// slot, SIGINT is ignored (a terminal's Ctrl-C reaches the whole group: the master decides), and
// a master that goes away (EOF on the socket) drains the worker.
#pragma once

#include <optional>
#include <string>

#include "control/control_channel.h"
#include "worker/worker_host.h"

namespace gryphon::internal {

class MasterLink final : public WorkerHost {
 public:
  MasterLink(int control_fd, std::string title) : fd_(control_fd), title_(std::move(title)) {}
  bool attach(boost::asio::io_context& io, WorkerControl& worker, std::string* error) override;
  void report(const control::WorkerMessage& message) override;
  void on_signal(int signal) override;
  bool supervised() const override { return true; }
  void detach() override { channel_.reset(); }

 private:
  int fd_;
  std::string title_;
  WorkerControl* worker_ = nullptr;
  std::optional<ControlChannel> channel_;
};

}  // namespace gryphon::internal
