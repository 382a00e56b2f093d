// gRPC's own encodings on HTTP/2, as the native transport needs them: length-prefixed messages
// (with the compressed flag, gzip/deflate through zlib), grpc-timeout, percent-encoded
// grpc-message and base64 -bin metadata. Pure functions; tested in tests/unit/transport.
#pragma once

#include <chrono>
#include <cstdint>
#include <optional>
#include <string>
#include <string_view>

#include <grpcpp/support/status.h>

#include "gryphon/detail/server_call.h"

namespace gryphon::internal {

// Timeouts from here up are no deadline at all (about 100 years; gRPC treats 8 digits of hours,
// which overflow nanoseconds, as infinite too).
inline constexpr std::chrono::nanoseconds kNoTimeout = std::chrono::hours(24 * 365 * 100);
// "100m" -> 100 ms; units H M S m u n, at most 8 digits; nullopt when malformed; kNoTimeout when
// longer.
std::optional<std::chrono::nanoseconds> parse_grpc_timeout(std::string_view text);

std::string base64_encode(std::string_view bytes);     // unpadded, as gRPC sends -bin values
std::string base64_decode(std::string_view text);      // padded or not; stops at the first bad byte
std::string percent_encode(std::string_view message);  // for grpc-message

struct FrameResult {
  bool complete = false;               // a message was taken
  bool compressed = false;             // it arrived compressed
  std::optional<grpc::Status> status;  // the stream must fail with this
};
// Takes the first whole message off `buffer` into `message`, decompressed when its flag says so
// (with `encoding` from grpc-encoding). A message over `max_bytes` fails with RESOURCE_EXHAUSTED.
FrameResult take_message(std::string& buffer, std::uint64_t max_bytes, std::string_view encoding,
                         std::string* message);
// Appends `message` length-prefixed, compressed with `compression` unless kNone. False when
// compression failed.
bool frame_message(std::string_view message, Compression compression, std::string* out);

}  // namespace gryphon::internal
