#include "gryphon/context.h"

namespace gryphon {

std::string_view Context::metadata(std::string_view key) const {
  const auto& metadata = server_context_.client_metadata();
  auto it = metadata.find(grpc::string_ref(key.data(), key.size()));
  if (it == metadata.end()) return {};
  return std::string_view(it->second.data(), it->second.size());
}

bool Context::is_cancelled() const {
  return server_context_.IsCancelled() || (has_deadline() && std::chrono::system_clock::now() > deadline());
}

}  // namespace gryphon
