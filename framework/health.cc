#include "health.h"

#include <chrono>

namespace gryphon::internal {
namespace {

std::string flatten(const grpc::ByteBuffer& buffer) {
  std::vector<grpc::Slice> slices;
  std::string bytes;
  if (!buffer.Dump(&slices).ok()) return bytes;
  for (const auto& slice : slices) bytes.append(reinterpret_cast<const char*>(slice.begin()), slice.size());
  return bytes;
}

bool read_varint(const std::string& bytes, std::size_t& at, std::uint64_t* value) {
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
    for (auto& [name, status] : statuses_) status = serving ? Status::kServing : Status::kNotServing;
    ++version_;
  }
  changed_.notify_all();
}

bool HealthService::parse_request(const grpc::ByteBuffer& buffer, std::string* service) {
  const std::string bytes = flatten(buffer);
  service->clear();
  std::size_t at = 0;
  while (at < bytes.size()) {
    std::uint64_t key = 0, length = 0;
    if (!read_varint(bytes, at, &key)) return false;
    switch (key & 7) {
      case 0:
        if (!read_varint(bytes, at, &length)) return false;
        break;
      case 1:
        at += 8;
        break;
      case 2:
        if (!read_varint(bytes, at, &length) || length > bytes.size() - at) return false;
        if (key >> 3 == 1) *service = bytes.substr(at, length);
        at += length;
        break;
      case 5:
        at += 4;
        break;
      default:
        return false;
    }
  }
  return at == bytes.size();
}

grpc::ByteBuffer HealthService::encode_response(Status status) {
  const char bytes[] = {0x08, static_cast<char>(status)};
  grpc::Slice slice(bytes, sizeof(bytes));
  return grpc::ByteBuffer(&slice, 1);
}

grpc::Status HealthService::check(const grpc::ByteBuffer& request, grpc::ByteBuffer* response) {
  std::string service;
  if (!parse_request(request, &service)) {
    return grpc::Status(grpc::StatusCode::INVALID_ARGUMENT, "malformed HealthCheckRequest");
  }
  std::lock_guard lock(mutex_);
  auto it = statuses_.find(service);
  if (it == statuses_.end()) return grpc::Status(grpc::StatusCode::NOT_FOUND, "unknown service " + service);
  *response = encode_response(it->second);
  return grpc::Status::OK;
}

grpc::Status HealthService::watch(Context& context, RawStream& stream) {
  grpc::ByteBuffer request;
  std::string service;
  if (!stream.read(&request) || !parse_request(request, &service)) {
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
    if (context.draining()) return grpc::Status(grpc::StatusCode::UNAVAILABLE, "this server is draining");
  }
  return grpc::Status(grpc::StatusCode::CANCELLED, "the watch ended");
}

ServiceDef HealthService::definition() {
  ServiceDef def;
  def.service = "grpc.health.v1.Health";
  MethodDef check_method{def.service, "Check", RpcType::kUnary, {}, {}};
  check_method.unary = [this](Context&, const grpc::ByteBuffer& in, grpc::ByteBuffer* out) { return check(in, out); };
  MethodDef watch_method{def.service, "Watch", RpcType::kServerStreaming, {}, {}};
  watch_method.stream = [this](Context& context, RawStream& stream) { return watch(context, stream); };
  def.methods.push_back(std::move(check_method));
  def.methods.push_back(std::move(watch_method));
  return def;
}

}  // namespace gryphon::internal
