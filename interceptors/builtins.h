// The built-in interceptors a worker wraps around every call: request id, access log and metrics
// (recovery from handler exceptions is part of dispatch itself). This library sits above the
// core: it uses the core's interceptor API and metrics store, and gryphon::Server::run() passes
// it to the core (internal::builtin_interceptors()), so nothing in the core depends on it.
#pragma once

#include "worker/worker.h"

namespace gryphon::internal {

// In chain order: request id, access log (when configured), metrics (when the slot has a store).
BuiltinInterceptors make_builtin_interceptors(const Config& config, int slot,
                                              RpcMetricsStore* store);

}  // namespace gryphon::internal
