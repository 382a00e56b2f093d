#include "transport/native/header_block.h"

#include "transport/native/grpc_wire.h"

namespace gryphon::internal::native {
namespace {

// Metadata whose value is new on every call. Indexed, each would take a new entry in the HPACK
// dynamic table and push the repeated fields out of it: with x-request-id indexed, the encoder's
// table churn cost 22% of a native worker's throughput (perf: memcmp in nghttp2_session_mem_send).
bool unique_per_call(std::string_view key) {
  return key == "x-request-id" || key == "traceparent" || key == "tracestate" ||
         key == "grpc-trace-bin" || key == "x-b3-traceid" || key == "x-b3-spanid";
}

}  // namespace

bool is_binary(std::string_view key) {
  return key.size() > 4 && key.compare(key.size() - 4, 4, "-bin") == 0;
}

nghttp2_nv field(std::string_view name, std::string_view value, std::uint8_t flags) {
  return {reinterpret_cast<std::uint8_t*>(const_cast<char*>(name.data())),
          reinterpret_cast<std::uint8_t*>(const_cast<char*>(value.data())), name.size(),
          value.size(), flags};
}

void HeaderBlock::add(std::string_view name, std::string_view value) {
  fields_.push_back(
      field(name, value, NGHTTP2_NV_FLAG_NO_COPY_NAME | NGHTTP2_NV_FLAG_NO_COPY_VALUE));
}

void HeaderBlock::add_owned(std::string_view name, std::string value) {
  fields_.push_back(field(name, keep(std::move(value)), NGHTTP2_NV_FLAG_NO_COPY_NAME));
}

void HeaderBlock::add_metadata(const std::vector<std::pair<std::string, std::string>>& metadata) {
  for (const auto& [key, value] : metadata) {
    const std::string_view text = is_binary(key) ? keep(base64_encode(value)) : value;
    fields_.push_back(field(key, text, unique_per_call(key) ? NGHTTP2_NV_FLAG_NO_INDEX : 0));
  }
}

void HeaderBlock::add_trailers(const grpc::Status& status,
                               const std::vector<std::pair<std::string, std::string>>& trailing) {
  static constexpr std::string_view kCodes[] = {"0", "1",  "2",  "3",  "4",  "5",  "6",  "7", "8",
                                                "9", "10", "11", "12", "13", "14", "15", "16"};
  const int code = static_cast<int>(status.error_code());
  if (code >= 0 && code < static_cast<int>(std::size(kCodes)))
    add("grpc-status", kCodes[code]);
  else
    add_owned("grpc-status", std::to_string(code));
  if (!status.error_message().empty())
    add_owned("grpc-message", percent_encode(status.error_message()));
  add_metadata(trailing);
}

}  // namespace gryphon::internal::native
