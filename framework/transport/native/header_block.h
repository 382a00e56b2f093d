// A response header block for nghttp2_submit_*: gRPC's fixed fields, application metadata (-bin
// values base64-encoded, per-call ids never indexed) and the status trailers.
#pragma once

#include <nghttp2/nghttp2.h>

#include <deque>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

#include <grpcpp/support/status.h>

namespace gryphon::internal::native {

// "x-...-bin": a binary metadata key, whose values travel base64-encoded.
bool is_binary(std::string_view key);

nghttp2_nv field(std::string_view name, std::string_view value, std::uint8_t flags);

// Fixed fields point at string literals, which nghttp2 need not copy; the rest point at metadata
// or at strings the block keeps, which nghttp2 copies when the block is submitted.
class HeaderBlock {
 public:
  // A field whose name and value are string literals.
  void add(std::string_view name, std::string_view value);
  // A field whose name is a string literal and whose value the block keeps.
  void add_owned(std::string_view name, std::string value);
  // Application metadata: -bin values go base64-encoded.
  void add_metadata(const std::vector<std::pair<std::string, std::string>>& metadata);
  void add_trailers(const grpc::Status& status,
                    const std::vector<std::pair<std::string, std::string>>& trailing);
  const nghttp2_nv* data() const { return fields_.data(); }
  std::size_t size() const { return fields_.size(); }

 private:
  std::string_view keep(std::string value) { return owned_.emplace_back(std::move(value)); }

  std::vector<nghttp2_nv> fields_;
  std::deque<std::string> owned_;  // stable addresses as it grows
};

}  // namespace gryphon::internal::native
