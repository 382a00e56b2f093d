// The native transport's gRPC encodings: grpc-timeout, base64 -bin values, percent-encoded
// grpc-message, and length-prefixed messages with and without gzip/deflate.
#include "transport/native/grpc_wire.h"

#include <catch2/catch.hpp>

namespace gryphon::internal {
namespace {

using namespace std::chrono;

TEST_CASE("grpc-timeout takes every unit and refuses what is not a timeout") {
  CHECK(parse_grpc_timeout("1H") == hours(1));
  CHECK(parse_grpc_timeout("2M") == minutes(2));
  CHECK(parse_grpc_timeout("3S") == seconds(3));
  CHECK(parse_grpc_timeout("100m") == milliseconds(100));
  CHECK(parse_grpc_timeout("7u") == microseconds(7));
  CHECK(parse_grpc_timeout("99999999n") == nanoseconds(99999999));
  // 8 digits of hours overflow nanoseconds: they saturate to "no deadline" (a fuzzer finding).
  CHECK(parse_grpc_timeout("99999999H") == kNoTimeout);
  CHECK(parse_grpc_timeout("2562048H") == kNoTimeout);
  CHECK(parse_grpc_timeout("876000H") == kNoTimeout);
  CHECK(parse_grpc_timeout("875999H") == hours(875999));
  for (const char* bad : {"", "m", "10", "10x", "-1S", "123456789S", "1.5S"}) {
    INFO(bad);
    CHECK_FALSE(parse_grpc_timeout(bad).has_value());
  }
}

TEST_CASE("base64 round-trips every length, padded or not") {
  std::string bytes;
  for (int i = 0; i < 40; ++i) {
    bytes.push_back(static_cast<char>(i * 37));
    const std::string encoded = base64_encode(bytes);
    CHECK(encoded.find('=') == std::string::npos);
    CHECK(base64_decode(encoded) == bytes);
    CHECK(base64_decode(encoded + std::string((4 - encoded.size() % 4) % 4, '=')) == bytes);
  }
  CHECK(base64_encode(std::string("\x00\xff", 2)) == "AP8");
  CHECK(base64_encode("foobar") == "Zm9vYmFy");
}

TEST_CASE("grpc-message is percent-encoded outside printable ASCII and for '%'") {
  CHECK(percent_encode("plain text") == "plain text");
  CHECK(percent_encode("100%\n\xc3\xa9") == "100%25%0A%C3%A9");
}

TEST_CASE("messages come off the buffer whole, one at a time") {
  std::string buffer;
  REQUIRE(frame_message("first", Compression::kNone, &buffer));
  REQUIRE(frame_message("second", Compression::kNone, &buffer));
  const std::string whole = buffer;
  buffer = whole.substr(0, 7);  // a cut-off message waits for more bytes
  std::string message;
  CHECK_FALSE(take_message(buffer, 1 << 20, "", &message).complete);
  buffer = whole;
  CHECK(take_message(buffer, 1 << 20, "", &message).complete);
  CHECK(message == "first");
  CHECK(take_message(buffer, 1 << 20, "", &message).complete);
  CHECK(message == "second");
  CHECK(buffer.empty());
}

TEST_CASE("gzip and deflate round-trip and set the compressed flag") {
  const std::string text(5000, 'a');
  for (auto [compression, name] :
       {std::pair{Compression::kGzip, "gzip"}, std::pair{Compression::kDeflate, "deflate"}}) {
    INFO(name);
    std::string buffer;
    REQUIRE(frame_message(text, compression, &buffer));
    CHECK(buffer[0] == 1);
    CHECK(buffer.size() < text.size());
    std::string message;
    REQUIRE(take_message(buffer, 1 << 20, name, &message).complete);
    CHECK(message == text);
  }
}

TEST_CASE("oversized, badly flagged, unknown-encoding and corrupt messages fail the call") {
  std::string message;
  std::string big;
  REQUIRE(frame_message(std::string(100, 'x'), Compression::kNone, &big));
  CHECK(take_message(big, 99, "", &message).status->error_code() ==
        grpc::StatusCode::RESOURCE_EXHAUSTED);
  std::string flagged = std::string("\x02\0\0\0\0", 5);
  CHECK(take_message(flagged, 99, "", &message).status->error_code() == grpc::StatusCode::INTERNAL);
  std::string compressed;
  REQUIRE(frame_message("hello", Compression::kGzip, &compressed));
  std::string copy = compressed;
  CHECK(take_message(copy, 99, "snappy", &message).status.has_value());
  compressed[8] ^= 0x55;  // corrupt the gzip stream
  CHECK(take_message(compressed, 99, "gzip", &message).status.has_value());
  // A small message that inflates past the limit (a compression bomb) fails too.
  std::string bomb;
  REQUIRE(frame_message(std::string(1 << 20, '\0'), Compression::kGzip, &bomb));
  CHECK(take_message(bomb, 1000, "gzip", &message).status->error_code() ==
        grpc::StatusCode::RESOURCE_EXHAUSTED);
  // Bytes after the end of the compressed stream are not silently dropped.
  std::string trailing;
  REQUIRE(frame_message("hello", Compression::kGzip, &trailing));
  trailing += "junk";
  const std::uint32_t length = static_cast<std::uint32_t>(trailing.size() - 5);
  for (int i = 0; i < 4; ++i) trailing[1 + i] = static_cast<char>((length >> (24 - 8 * i)) & 0xff);
  CHECK(take_message(trailing, 99, "gzip", &message).status->error_code() ==
        grpc::StatusCode::INTERNAL);
}

}  // namespace
}  // namespace gryphon::internal
