// HealthService: grpc.health.v1.Health (Check and Watch) served by gryphon's own dispatch.
//
// gRPC's default health service is built on the callback API, which makes gRPC start its callback
// completion-queue threads; they poll the same connections as the worker's completion-queue
// thread and cost about 40% of a core under load (measured with the benchmark). This one is a pair
// of raw methods on the worker's own queue: Check answers inline, Watch streams status changes
// from the handler pool. It bypasses the interceptor chain, like any built-in service.
//
// Statuses are per service name ("" is the whole server); set_serving() may be called from any
// thread. The messages are encoded by hand: HealthCheckRequest{string service = 1} and
// HealthCheckResponse{ServingStatus status = 1}.
#pragma once

#include <condition_variable>
#include <map>
#include <mutex>
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

  // Wire helpers, public for tests.
  static bool parse_request(const grpc::ByteBuffer& buffer, std::string* service);
  static grpc::ByteBuffer encode_response(Status status);

 private:
  grpc::Status check(const grpc::ByteBuffer& request, grpc::ByteBuffer* response);
  grpc::Status watch(Context& context, RawStream& stream);

  std::mutex mutex_;
  std::condition_variable changed_;
  std::map<std::string, Status> statuses_;
  std::uint64_t version_ = 0;
};

}  // namespace gryphon::internal
