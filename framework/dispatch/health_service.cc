#include "dispatch/health_service.h"

#include <chrono>
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
    ++version_;
  }
  changed_.notify_all();
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

grpc::Status HealthService::watch(Context& context, RawStream& stream) {
  std::string request;
  std::string service;
  if (!stream.read(request) || !parse_request(request, &service)) {
    return grpc::Status(grpc::StatusCode::INVALID_ARGUMENT, "malformed HealthCheckRequest");
  }
  std::uint64_t seen = ~std::uint64_t{0};
  Status sent = Status::kUnknown;
  while (!context.is_cancelled()) {
    Status now;
    {
      std::unique_lock lock(mutex_);
      changed_.wait_for(lock, std::chrono::milliseconds(200), [&] { return version_ != seen; });
      seen = version_;
      auto it = statuses_.find(service);
      now = it == statuses_.end() ? Status::kServiceUnknown : it->second;
    }
    if (now != sent) {
      if (!stream.write(encode_response(now))) break;
      sent = now;
    }
    // A draining worker ends its watches so clients re-watch through a worker that stays.
    if (context.draining())
      return grpc::Status(grpc::StatusCode::UNAVAILABLE, "this server is draining");
  }
  return grpc::Status(grpc::StatusCode::CANCELLED, "the watch ended");
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
  watch_method.stream = [this](Context& context, RawStream& stream) {
    return watch(context, stream);
  };
  def.methods.push_back(std::move(check_method));
  def.methods.push_back(std::move(watch_method));
  return def;
}

}  // namespace gryphon::internal
