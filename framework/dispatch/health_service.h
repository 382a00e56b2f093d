// HealthService: grpc.health.v1.Health (Check and Watch) served by gryphon's own dispatch.
//
// A pair of methods on gryphon's dispatch, so both transports serve it alike: Check answers inline
// (on the thread that read the call), Watch streams status changes from the handler pool. It
// bypasses the interceptor chain, like any built-in service. Why not gRPC's own (history, on the
// grpc transport): its default health service is built on the callback API, which makes gRPC
// start callback completion-queue threads that poll the same connections as the worker's
// completion-queue thread and cost about 40% of a core under load (measured with the benchmark).
//
// Statuses are per service name ("" is the whole server); set_serving() may be called from any
// thread. The messages are encoded by hand: HealthCheckRequest{string service = 1} and
// HealthCheckResponse{ServingStatus status = 1}.
#pragma once

#include <condition_variable>
#include <map>
#include <mutex>
#include <optional>
#include <string_view>
#include <string>
#include <vector>

#include "gryphon/handler.h"

namespace gryphon::internal {

class HealthService {
 public:
  enum class Status { kUnknown = 0, kServing = 1, kNotServing = 2, kServiceUnknown = 3 };

  explicit HealthService(const std::vector<std::string>& services);

  // Sets every registered service and the server as a whole.
  void set_serving(bool serving);
  ServiceDef definition();

  // The messages, encoded by hand (both sides: the readiness check is a health client).
  static bool parse_request(std::string_view bytes, std::string* service);
  static std::string encode_request(std::string_view service);  // a service name under 128 bytes
  static std::string encode_response(Status status);
  static std::optional<Status> parse_response(std::string_view bytes);

 private:
  static std::optional<std::uint64_t> field_one(std::string_view bytes, std::string* text);
  grpc::Status check(std::string_view request, std::string& response);
  grpc::Status watch(Context& context, RawStream& stream);

  std::mutex mutex_;
  std::condition_variable changed_;
  std::map<std::string, Status> statuses_;
  std::uint64_t version_ = 0;
};

}  // namespace gryphon::internal
