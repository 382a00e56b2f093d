// The readiness check both transports use: a grpc.health.v1 Check over one end of a socketpair
// whose other end the transport serves like any accepted connection — so "ready" proves the whole
// path client traffic takes (HTTP/2, polling, the hand-over), which an in-process channel would
// skip. The client is an nghttp2 session with a poll() loop, not gRPC C++: a gRPC C++ client
// initialised gRPC core in every native worker for this one call, which doubled the worker's
// RSS (14.1 MiB against 7.2 MiB after start) and took 3-5 ms instead of 1-2.
#pragma once

#include <chrono>
#include <string>

namespace gryphon::internal {

// Creates a socketpair, hands one end to `serve` and asks Check over the other (and closes it).
// False with `error` set unless the answer is SERVING within `timeout`. Blocks the calling thread.
template <class Serve>
bool check_readiness(Serve&& serve, std::chrono::milliseconds timeout, std::string* error);

bool make_readiness_pair(int fds[2], std::string* error);
bool health_check_over(int client_fd, std::chrono::milliseconds timeout, std::string* error);

template <class Serve>
bool check_readiness(Serve&& serve, std::chrono::milliseconds timeout, std::string* error) {
  int fds[2];
  if (!make_readiness_pair(fds, error)) return false;
  serve(fds[0]);
  return health_check_over(fds[1], timeout, error);
}

}  // namespace gryphon::internal
