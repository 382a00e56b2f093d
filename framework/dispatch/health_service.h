// HealthService: grpc.health.v1.Health (Check and Watch) served by gryphon's own dispatch.
//
// A pair of methods on gryphon's dispatch, so both transports serve it alike: Check answers inline
// (on the thread that read the call); Watch is an async stream, a coroutine on its call's loop that
// holds no thread while it waits for a change. It
// bypasses the interceptor chain, like any built-in service. Why not gRPC's own (history, on the
// grpc transport): its default health service is built on the callback API, which makes gRPC
// start callback completion-queue threads that poll the same connections as the worker's
// completion-queue thread and cost about 40% of a core under load (measured with the benchmark).
//
// Statuses are per service name ("" is the whole server); set_serving() and end_watches() may be
// called from any thread: each wakes every watch on its own loop. The messages are encoded by hand:
// HealthCheckRequest{string service = 1} and HealthCheckResponse{ServingStatus status = 1}.
#pragma once

#include "gryphon/async.h"  // first: it includes <utility> before Asio's awaitable header

#include <boost/asio/any_io_executor.hpp>
#include <boost/asio/steady_timer.hpp>
#include <map>
#include <memory>
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
  // The worker started draining: every watch ends (UNAVAILABLE), so its client re-watches through
  // a worker that stays. Call after the dispatcher is marked draining.
  void end_watches();
  ServiceDef definition();

  // The messages, encoded by hand (both sides: the readiness check is a health client).
  static bool parse_request(std::string_view bytes, std::string* service);
  static std::string encode_request(std::string_view service);  // a service name under 128 bytes
  static std::string encode_response(Status status);
  static std::optional<Status> parse_response(std::string_view bytes);

 private:
  static std::optional<std::uint64_t> field_one(std::string_view bytes, std::string* text);
  grpc::Status check(std::string_view request, std::string& response);
  Task<grpc::Status> watch(Context& context, detail::AsyncStream& stream);
  Status status_of(const std::string& service);

  struct Watcher;
  std::shared_ptr<Watcher> watcher(boost::asio::any_io_executor executor);
  void forget(Watcher* watcher);
  void wake_watchers();  // with mutex_ held

  std::mutex mutex_;
  std::map<std::string, Status> statuses_;
  std::vector<Watcher*> watchers_;  // the live watches, each on its own loop
};

}  // namespace gryphon::internal
