#include "dispatch/health_service.h"  // first: gryphon/async.h includes <utility> before Asio

#include <algorithm>
#include <boost/asio/post.hpp>
#include <boost/asio/redirect_error.hpp>
#include <boost/asio/this_coro.hpp>
#include <optional>

namespace gryphon::internal {
namespace {

bool read_varint(std::string_view bytes, std::size_t& at, std::uint64_t* value) {
  *value = 0;
  for (int shift = 0; shift < 64 && at < bytes.size(); shift += 7) {
    const auto byte = static_cast<unsigned char>(bytes[at++]);
    *value |= static_cast<std::uint64_t>(byte & 0x7f) << shift;
    if ((byte & 0x80) == 0) return true;
  }
  return false;
}

}  // namespace

HealthService::HealthService(const std::vector<std::string>& services) {
  statuses_[""] = Status::kServing;
  for (const auto& name : services) statuses_[name] = Status::kServing;
}

void HealthService::set_serving(bool serving) {
  {
    std::lock_guard lock(mutex_);
    for (auto& [name, status] : statuses_)
      status = serving ? Status::kServing : Status::kNotServing;
    wake_watchers();
  }
}

// HealthCheckRequest and HealthCheckResponse each have one field 1 (a string / an enum).
std::optional<std::uint64_t> HealthService::field_one(std::string_view bytes, std::string* text) {
  std::optional<std::uint64_t> number;
  std::size_t at = 0;
  while (at < bytes.size()) {
    std::uint64_t key = 0, length = 0;
    if (!read_varint(bytes, at, &key)) return std::nullopt;
    switch (key & 7) {
      case 0:
        if (!read_varint(bytes, at, &length)) return std::nullopt;
        if (key >> 3 == 1) number = length;
        break;
      case 1: at += 8; break;
      case 2:
        if (!read_varint(bytes, at, &length) || length > bytes.size() - at) return std::nullopt;
        if (key >> 3 == 1 && text != nullptr) *text = std::string(bytes.substr(at, length));
        at += length;
        break;
      case 5: at += 4; break;
      default: return std::nullopt;
    }
  }
  if (at != bytes.size()) return std::nullopt;
  return number.value_or(0);
}

bool HealthService::parse_request(std::string_view bytes, std::string* service) {
  service->clear();
  return field_one(bytes, service).has_value();
}

std::string HealthService::encode_request(std::string_view service) {
  if (service.empty()) return {};
  std::string bytes{0x0a,
                    static_cast<char>(service.size())};  // short names only: a readiness probe's
  return bytes + std::string(service);
}

std::optional<HealthService::Status> HealthService::parse_response(std::string_view bytes) {
  const auto status = field_one(bytes, nullptr);
  if (!status || *status > 3) return std::nullopt;
  return static_cast<Status>(*status);
}

std::string HealthService::encode_response(Status status) {
  if (status == Status::kUnknown) return {};  // proto3: the default value is not sent
  return std::string{0x08, static_cast<char>(status)};
}

grpc::Status HealthService::check(std::string_view request, std::string& response) {
  std::string service;
  if (!parse_request(request, &service)) {
    return grpc::Status(grpc::StatusCode::INVALID_ARGUMENT, "malformed HealthCheckRequest");
  }
  std::lock_guard lock(mutex_);
  auto it = statuses_.find(service);
  if (it == statuses_.end())
    return grpc::Status(grpc::StatusCode::NOT_FOUND, "unknown service " + service);
  response = encode_response(it->second);
  return grpc::Status::OK;
}

// One watch's wake-up: a timer used as an event, on the watch's loop. set_serving() and
// end_watches() post to that loop; a flag keeps a wake that lands while the watch is writing.
struct HealthService::Watcher : std::enable_shared_from_this<Watcher> {
  Watcher(HealthService& owner, boost::asio::any_io_executor executor)
      : owner(owner), timer(std::move(executor)) {}
  ~Watcher() { owner.forget(this); }
  void wake() {
    woken = true;
    timer.cancel();
  }

  HealthService& owner;
  boost::asio::steady_timer timer;
  bool woken = false;
  bool ended = false;  // the call was cancelled: the client, its deadline or the drain's end
};

std::shared_ptr<HealthService::Watcher> HealthService::watcher(
    boost::asio::any_io_executor executor) {
  auto watcher = std::make_shared<Watcher>(*this, std::move(executor));
  std::lock_guard lock(mutex_);
  watchers_.push_back(watcher.get());
  return watcher;
}

void HealthService::forget(Watcher* watcher) {
  std::lock_guard lock(mutex_);
  watchers_.erase(std::remove(watchers_.begin(), watchers_.end(), watcher), watchers_.end());
}

// Called with mutex_ held: a watcher in the list is alive (it leaves the list as it is destroyed,
// on its loop, under the same mutex), and the posted wake finds it again by weak reference.
void HealthService::wake_watchers() {
  for (Watcher* watcher : watchers_) {
    boost::asio::post(watcher->timer.get_executor(), [weak = watcher->weak_from_this()] {
      if (auto live = weak.lock()) live->wake();
    });
  }
}

void HealthService::end_watches() {
  std::lock_guard lock(mutex_);
  wake_watchers();
}

HealthService::Status HealthService::status_of(const std::string& service) {
  std::lock_guard lock(mutex_);
  auto it = statuses_.find(service);
  return it == statuses_.end() ? Status::kServiceUnknown : it->second;
}

// A watch holds no thread: it sleeps on its loop until a status changes, the worker drains or
// the call ends.
Task<grpc::Status> HealthService::watch(Context& context, detail::AsyncStream& stream) {
  std::string request;
  std::string service;
  const bool got = co_await stream.read(request);
  if (!got || !parse_request(request, &service)) {
    co_return grpc::Status(grpc::StatusCode::INVALID_ARGUMENT, "malformed HealthCheckRequest");
  }
  const auto watcher = this->watcher(co_await boost::asio::this_coro::executor);
  const auto guard = when_cancelled(context, [w = watcher.get()] {
    w->ended = true;
    w->wake();
  });
  Status sent = Status::kUnknown;
  while (!watcher->ended && !context.is_cancelled()) {
    watcher->woken = false;
    const Status now = status_of(service);
    if (now != sent) {
      const bool wrote = co_await stream.write(encode_response(now), {});
      if (!wrote) break;
      sent = now;
    }
    // A draining worker ends its watches so clients re-watch through a worker that stays.
    if (context.draining())
      co_return grpc::Status(grpc::StatusCode::UNAVAILABLE, "this server is draining");
    if (!watcher->woken) {
      watcher->timer.expires_at(boost::asio::steady_timer::time_point::max());
      boost::system::error_code error;
      co_await watcher->timer.async_wait(boost::asio::redirect_error(use_task, error));
    }
  }
  co_return grpc::Status(grpc::StatusCode::CANCELLED, "the watch ended");
}

ServiceDef HealthService::definition() {
  ServiceDef def;
  def.service = "grpc.health.v1.Health";
  MethodDef check_method{.service = def.service, .method = "Check", .type = RpcType::kUnary};
  check_method.unary = [this](Context&, std::string_view in, std::string& out) {
    return check(in, out);
  };
  MethodDef watch_method{
      .service = def.service, .method = "Watch", .type = RpcType::kServerStreaming};
  watch_method.async_stream = [this](Context& context, detail::AsyncStream& stream) {
    return watch(context, stream);
  };
  def.methods.push_back(std::move(check_method));
  def.methods.push_back(std::move(watch_method));
  return def;
}

}  // namespace gryphon::internal
