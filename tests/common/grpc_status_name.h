// The C-style name of a gRPC status code ("INVALID_ARGUMENT"), as gRPC's own tools print it: for
// test reports, and for test clients that must not link gryphon (whose code_name() is Go-style).
#pragma once

#include <grpcpp/support/status.h>

#include <iterator>
#include <string>

namespace gryphon::test {

inline std::string grpc_status_name(grpc::StatusCode code) {
  static const char* const kNames[] = {"OK",
                                       "CANCELLED",
                                       "UNKNOWN",
                                       "INVALID_ARGUMENT",
                                       "DEADLINE_EXCEEDED",
                                       "NOT_FOUND",
                                       "ALREADY_EXISTS",
                                       "PERMISSION_DENIED",
                                       "RESOURCE_EXHAUSTED",
                                       "FAILED_PRECONDITION",
                                       "ABORTED",
                                       "OUT_OF_RANGE",
                                       "UNIMPLEMENTED",
                                       "INTERNAL",
                                       "UNAVAILABLE",
                                       "DATA_LOSS",
                                       "UNAUTHENTICATED"};
  const auto index = static_cast<std::size_t>(code);
  return index < std::size(kNames) ? kNames[index] : "code " + std::to_string(index);
}

}  // namespace gryphon::test
