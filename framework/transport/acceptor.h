// Acceptor: a worker's accept loop on the listening sockets it inherited from the master.
//
// It waits for readiness on each non-blocking listening socket on the worker's Asio loop and
// accepts with accept4 (a lost race with another worker is EAGAIN, never a block), then hands
// the connection to the transport. Soft cap: a worker holding max_connections or more defers its
// accept (50 ms per connection over, at most 250 ms) so a less loaded worker takes it first, then
// accepts anyway — nothing waits in the backlog because every worker is at its cap. Out of
// descriptors or memory it backs off 100 ms instead of spinning on a readable socket.
// Main-thread only; stop() closes this process's copies of the sockets (the master keeps its own)
// after taking every connection already queued on them: the kernel resets the connections left
// in a listening socket's queue when its last copy closes, and a draining worker may be the last.
#pragma once

#include <boost/asio/io_context.hpp>
#include <boost/asio/posix/stream_descriptor.hpp>
#include <boost/asio/steady_timer.hpp>
#include <chrono>
#include <functional>
#include <memory>
#include <vector>

#include "transport/listen_sockets.h"

namespace gryphon::internal {

class Acceptor {
 public:
  // `open_connections` tells the soft cap how many connections this worker holds; `on_accept`
  // takes each accepted socket (tcp: it came from a TCP listener).
  Acceptor(boost::asio::io_context& io, const std::vector<ListenSocket>& listeners,
           int max_connections, std::function<std::size_t()> open_connections,
           std::function<void(int fd, bool tcp)> on_accept);
  void start();
  void stop();

  // The soft cap's deferral for a worker holding `open` connections (zero below the cap).
  static std::chrono::milliseconds deferral(std::size_t open, int max_connections);

 private:
  void wait(std::size_t index);
  void accept_now(std::size_t index);

  struct Listener {
    std::unique_ptr<boost::asio::posix::stream_descriptor> socket;
    std::unique_ptr<boost::asio::steady_timer> timer;
    bool tcp = true;
  };
  // Accepts one queued connection and hands it on; false (errno set) when none could be.
  bool accept_one(Listener& listener);
  std::vector<Listener> listeners_;
  int max_connections_;
  std::function<std::size_t()> open_connections_;
  std::function<void(int, bool)> on_accept_;
  bool stopped_ = false;
};

}  // namespace gryphon::internal
