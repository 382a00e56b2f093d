// MetricsEndpoint: the master's minimal HTTP/1.1 responder for `GET /metrics`.
//
// It runs on the master's single Asio loop (the master starts no threads, so prometheus-cpp's
// civetweb Exposer is not an option) and answers only `GET /metrics`: other paths get 404, other
// methods 405. Requests are bounded in size (8 KiB) and time (5 s); each connection gets one
// response and is closed. The body comes from a callback that serialises the current metrics.
#pragma once

#include <boost/asio/io_context.hpp>
#include <boost/asio/ip/tcp.hpp>
#include <functional>
#include <string>

#include "config/listen_address.h"

namespace gryphon::internal {

class MetricsEndpoint {
 public:
  using Render = std::function<std::string()>;
  // Binds `address` (HOST:PORT), or serves on `inherited_fd` when it is a listening socket passed
  // on by the previous master of a binary upgrade. Throws std::runtime_error naming the address
  // on failure.
  MetricsEndpoint(boost::asio::io_context& io, const std::string& address, Render render,
                  int inherited_fd = -1);
  // The bound address, with the real port when 0 was asked for.
  std::string address() const;
  // The listening socket, for handing on to the next master.
  int fd() { return acceptor_.native_handle(); }
  // Stops accepting; exchanges under way finish. (After a binary upgrade the new master, which
  // shares the socket, answers every later scrape.)
  void close();

 private:
  void accept();

  boost::asio::ip::tcp::acceptor acceptor_;
  Render render_;
};

}  // namespace gryphon::internal
