// Interceptors: code that runs around every RPC served through gryphon's dispatch.
//
// An interceptor sees each call twice. on_start() runs before the handler, in registration order;
// returning a non-OK status rejects the call (the handler is not run and later interceptors'
// on_start is skipped). on_finish() runs after the handler, in reverse registration order, for
// every interceptor whose on_start ran; it sees the final status, the duration and message counts
// and wire sizes in both directions, and may replace the status before it is sent.
//
// Interceptors are created once per worker process (after fork) from the factories registered on
// gryphon::Server, and are shared by all calls of that worker: both hooks must be thread-safe and
// must not block (they run on the RPC's hot path). Built-in services (health, reflection) do not
// pass through the chain. A method can be excluded from an interceptor with skip().
#pragma once

#include <grpcpp/support/status.h>

#include <chrono>
#include <cstdint>
#include <string>

#include "gryphon/context.h"
#include "gryphon/handler.h"

namespace gryphon {

// Everything known about one call. Filled by dispatch; interceptors read it.
struct CallInfo {
  const MethodDef* method = nullptr;
  Context* context = nullptr;
  std::chrono::steady_clock::time_point start;
  std::chrono::system_clock::time_point start_wall;
  std::uint64_t messages_received = 0;
  std::uint64_t messages_sent = 0;
  std::uint64_t bytes_received = 0;
  std::uint64_t bytes_sent = 0;
  // Valid in on_finish.
  std::chrono::nanoseconds duration{0};

  std::chrono::duration<double> elapsed() const { return duration; }
};

class Interceptor {
 public:
  virtual ~Interceptor() = default;

  // Return true to leave `method` out of this interceptor entirely (decided once per method).
  virtual bool skip(const MethodDef& method) const { return false; }

  // Before the handler. A non-OK status rejects the call with that status.
  virtual grpc::Status on_start(CallInfo& call) { return grpc::Status::OK; }

  // After the handler (or after a rejection by a later interceptor). May replace `status`.
  virtual void on_finish(CallInfo& call, grpc::Status& status) {}
};

// The Go-style name of a status code, as go-grpc-middleware logs it and go-grpc-prometheus labels
// it: "OK", "Canceled", "NotFound", "DeadlineExceeded", ...
const char* code_name(grpc::StatusCode code);

}  // namespace gryphon
