// WorkerHost: what a worker reports to and hears from — the master over the slot's control
// socket (MasterLink), or, with --workers 0, the standalone instance in the same process.
//
// The worker itself is the same either way; the host decides what its signals mean (TERM drains
// one slot under a master, stops the whole instance alone), where its messages go and whether it
// may be recycled. Both run on the worker's main Asio loop.
#pragma once

#include <boost/asio/io_context.hpp>
#include <string>

#include "control/control_protocol.h"

namespace gryphon::internal {

// What a host can make the worker do.
class WorkerControl {
 public:
  virtual ~WorkerControl() = default;
  virtual void set_serving(bool serving) = 0;  // the health status
  virtual void drain(const std::string& reason) = 0;
  virtual void reopen_logs() = 0;
  virtual WorkerStats stats() const = 0;
};

class WorkerHost {
 public:
  virtual ~WorkerHost() = default;
  // Once the worker's loop exists, before any hook runs. False with `error` set if it cannot serve.
  virtual bool attach(boost::asio::io_context& io, WorkerControl& worker, std::string* error) = 0;
  // Before the worker's loop goes: drop every I/O object made on it in attach().
  virtual void detach() = 0;
  virtual void report(const control::WorkerMessage& message) = 0;
  // SIGTERM, SIGINT or SIGHUP arrived.
  virtual void on_signal(int signal) = 0;
  // A supervised worker may ask to be recycled (max-requests, max-memory).
  virtual bool supervised() const = 0;
};

}  // namespace gryphon::internal
