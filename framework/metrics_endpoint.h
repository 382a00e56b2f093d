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

#include "listen_address.h"

namespace gryphon::internal {

class MetricsEndpoint {
 public:
  using Render = std::function<std::string()>;
  // Binds `address` (HOST:PORT). Throws std::runtime_error naming the address on failure.
  MetricsEndpoint(boost::asio::io_context& io, const std::string& address, Render render);
  // The bound address, with the real port when 0 was asked for.
  std::string address() const;
  void close();

 private:
  void accept();

  boost::asio::io_context& io_;
  boost::asio::ip::tcp::acceptor acceptor_;
  Render render_;
};

}  // namespace gryphon::internal
