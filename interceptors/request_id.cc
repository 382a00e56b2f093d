#include "request_id.h"

#include <random>

#include "dispatch/context_access.h"

namespace gryphon::internal {
namespace {

bool acceptable(std::string_view id) {
  if (id.empty() || id.size() > 128) return false;
  for (char c : id) {
    if (c < 0x21 || c > 0x7e) return false;
  }
  return true;
}

std::string fresh_id() {
  thread_local std::mt19937_64 random{std::random_device{}()};
  static const char* hex = "0123456789abcdef";
  std::string id(32, '0');
  for (int half = 0; half < 2; ++half) {
    std::uint64_t bits = random();
    for (int i = 0; i < 16; ++i, bits >>= 4)
      id[static_cast<std::size_t>(half * 16 + i)] = hex[bits & 0xf];
  }
  return id;
}

}  // namespace

grpc::Status RequestIdInterceptor::on_start(CallInfo& call) {
  Context& context = *call.context;
  const std::string_view given = context.metadata("x-request-id");
  std::string id = acceptable(given) ? std::string(given) : fresh_id();
  context.add_initial_metadata("x-request-id", id);
  ContextAccess::set_request_id(context, std::move(id));
  return grpc::Status::OK;
}

}  // namespace gryphon::internal
