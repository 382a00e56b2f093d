// Transport: the seam between "bytes and streams on a connection" and "a call to dispatch".
//
// A worker accepts connections (acceptor.h) and hands each to its transport, which speaks HTTP/2
// and gRPC on it and turns every request into a call on the Dispatcher: it finds the BoundMethod
// for the path (or an unknown-method row), gives dispatch a detail::ServerCall (path, metadata,
// deadline, peer, cancellation; response metadata, compression) and the message bytes, runs the
// handler inline or on the dispatcher's pool, and carries back response messages with their write
// options, the status and trailers. Dispatch, interceptors, handlers and Context see nothing of
// the transport's own types.
//
// Implementations: transport/native (the default: gryphon's own HTTP/2 on nghttp2 and Asio event
// loops) and transport/grpc (gRPC C++ 1.51 through its external connection acceptor).
//
// Lifetime, all on the worker's main thread: start(); serve_connection() per accepted socket;
// check_ready() once; begin_drain() when the slot drains (the caller then waits until
// open_connections() is 0 or its deadline passes); stop(deadline) last.
#pragma once

#include <chrono>
#include <cstddef>
#include <string>

namespace gryphon::internal {

class Transport {
 public:
  virtual ~Transport() = default;

  // Starts serving; false with `error` saying why.
  virtual bool start(std::string* error) = 0;
  // Takes over an accepted, non-blocking socket. `tcp`: it came from a TCP listener, where TLS
  // applies when configured (unix listeners stay plaintext, for a sidecar).
  virtual void serve_connection(int fd, bool tcp) = 0;
  // A grpc.health.v1 Check over a real connection through the same path as client traffic.
  virtual bool check_ready(std::chrono::milliseconds timeout, std::string* error) = 0;
  // Connections handed over and not yet closed.
  virtual std::size_t open_connections() const = 0;
  // The slot drains: connections should leave (no new ones are handed over).
  virtual void begin_drain() = 0;
  // Ends every call still running by `deadline` and stops. Last call.
  virtual void stop(std::chrono::steady_clock::time_point deadline) = 0;
};

}  // namespace gryphon::internal
