#include "gryphon/context.h"

namespace gryphon {

std::string_view Context::metadata(std::string_view key) const {
  const auto& metadata = server_context_.client_metadata();
  auto it = metadata.find(grpc::string_ref(key.data(), key.size()));
  if (it == metadata.end()) return {};
  return std::string_view(it->second.data(), it->second.size());
}

bool Context::cancelled_by_client() const {
  // ServerContext::IsCancelled() crashes on an async call that did not request its done notification.
  return cancel_observable_ && server_context_.IsCancelled();
}

bool Context::is_cancelled() const { return deadline_passed() || cancelled_by_client(); }

}  // namespace gryphon
