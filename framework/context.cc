#include "gryphon/context.h"

namespace gryphon {

std::string_view Context::metadata(std::string_view key) const { return find_metadata(key).value_or(std::string_view()); }

std::optional<std::string_view> Context::find_metadata(std::string_view key) const {
  const auto& metadata = server_context_.client_metadata();
  auto it = metadata.find(grpc::string_ref(key.data(), key.size()));
  if (it == metadata.end()) return std::nullopt;
  return std::string_view(it->second.data(), it->second.size());
}

std::vector<std::string_view> Context::metadata_values(std::string_view key) const {
  std::vector<std::string_view> values;
  const auto [first, last] = server_context_.client_metadata().equal_range(grpc::string_ref(key.data(), key.size()));
  for (auto it = first; it != last; ++it) values.emplace_back(it->second.data(), it->second.size());
  return values;
}

void Context::set_compression(Compression algorithm) {
  switch (algorithm) {
    case Compression::kNone: server_context_.set_compression_algorithm(GRPC_COMPRESS_NONE); break;
    case Compression::kDeflate: server_context_.set_compression_algorithm(GRPC_COMPRESS_DEFLATE); break;
    case Compression::kGzip: server_context_.set_compression_algorithm(GRPC_COMPRESS_GZIP); break;
  }
}

bool Context::cancelled_by_client() const {
  // ServerContext::IsCancelled() crashes on an async call that did not request its done notification.
  return cancel_observable_ && server_context_.IsCancelled();
}

bool Context::is_cancelled() const { return deadline_passed() || cancelled_by_client(); }

}  // namespace gryphon
