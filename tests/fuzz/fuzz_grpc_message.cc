// Fuzzes the native transport's gRPC encodings (framework/transport/native/grpc_wire.h) against
// a model of what each must do. Input layout (tests/fuzz/make_corpus.py writes seeds in it):
//   byte 0   low 3 bits: grpc-encoding (kEncodings); high 5 bits c: feed the wire in chunks of
//            c*c bytes (0: all at once), taking every whole message after each chunk
//   byte 1   low 4 bits: the size limit (kLimits); high 4 bits: compression for the round trip
//   byte 2   n, the length of the side string
//   n bytes  the side string: grpc-timeout, percent-encoding, base64 and frame/take round trips
//   rest     the wire: length-prefixed messages as a client's DATA frames carry them
// A broken invariant prints what broke and aborts (libFuzzer saves the input as crash-*).
#include <zlib.h>

#include <algorithm>
#include <cstddef>
#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <string>
#include <string_view>

#include "transport/native/grpc_wire.h"

namespace gryphon::internal {
namespace {

constexpr std::string_view kEncodings[] = {"",     "identity", "gzip",  "deflate",
                                           "GZIP", "snappy",   "gzip ", "defl"};
constexpr std::uint64_t kLimits[] = {
    0,    1,     4,     5,       16,      100,     255,         1024,
    4096, 16384, 65535, 1 << 20, 2 << 20, 4 << 20, 0xffffffffu, ~std::uint64_t{0}};

[[noreturn]] void fail(const char* what, int line) {
  std::fprintf(stderr, "fuzz_grpc_message.cc:%d: invariant broken: %s\n", line, what);
  std::abort();
}
#define FUZZ_CHECK(condition)                     \
  do {                                            \
    if (!(condition)) fail(#condition, __LINE__); \
  } while (0)

enum class Inflated { kOk, kCorrupt, kTooBig };

// The oracle for a compressed body: inflates it independently (64 KiB steps) and, when `expected`
// is given, checks it byte for byte. Bytes after the stream's end make it corrupt.
Inflated inflate_model(std::string_view body, bool gzip, std::uint64_t limit,
                       const std::string* expected, bool* matches) {
  static unsigned char chunk[65536];
  z_stream z{};
  if (inflateInit2(&z, gzip ? 15 + 16 : 15) != Z_OK) fail("inflateInit2 failed", __LINE__);
  z.next_in = reinterpret_cast<Bytef*>(const_cast<char*>(body.data()));
  z.avail_in = static_cast<uInt>(body.size());
  std::uint64_t total = 0;
  *matches = true;
  Inflated outcome = Inflated::kCorrupt;
  for (;;) {
    z.next_out = chunk;
    z.avail_out = sizeof chunk;
    const int result = inflate(&z, Z_NO_FLUSH);
    const std::size_t produced = sizeof chunk - z.avail_out;
    if (expected != nullptr &&
        (total + produced > expected->size() ||
         std::string_view(expected->data() + total, produced) !=
             std::string_view(reinterpret_cast<const char*>(chunk), produced))) {
      *matches = false;
    }
    total += produced;
    if (total > limit) {
      outcome = Inflated::kTooBig;
      break;
    }
    if (result == Z_STREAM_END) {
      outcome = z.avail_in == 0 ? Inflated::kOk : Inflated::kCorrupt;
      break;
    }
    if (result != Z_OK) break;  // corrupt, truncated (Z_BUF_ERROR), or wants a dictionary
  }
  inflateEnd(&z);
  if (expected != nullptr && total != expected->size()) *matches = false;
  return outcome;
}

std::uint32_t length_of(std::string_view header) {
  std::uint32_t length = 0;
  for (int i = 1; i < 5; ++i) length = (length << 8) | static_cast<std::uint8_t>(header[i]);
  return length;
}

enum class Step { kTaken, kWaiting, kFailed };

// One take_message call against the model of what it must do with this buffer.
Step take_one(std::string& buffer, std::uint64_t limit, std::string_view encoding,
              std::uint64_t* consumed) {
  const std::string before = buffer;
  std::string message;
  const FrameResult result = take_message(buffer, limit, encoding, &message);
  FUZZ_CHECK(!(result.complete && result.status));
  if (!result.complete) FUZZ_CHECK(buffer == before);  // nothing taken, nothing invented
  if (before.size() < 5) {
    FUZZ_CHECK(!result.complete && !result.status);
    return Step::kWaiting;
  }
  const auto flag = static_cast<std::uint8_t>(before[0]);
  const std::uint32_t length = length_of(before);
  if (flag > 1 || length > limit) {
    FUZZ_CHECK(result.status);
    FUZZ_CHECK(result.status->error_code() ==
               (flag > 1 ? grpc::StatusCode::INTERNAL : grpc::StatusCode::RESOURCE_EXHAUSTED));
    FUZZ_CHECK(!result.status->error_message().empty());
    return Step::kFailed;
  }
  if (before.size() < 5 + std::size_t{length}) {
    FUZZ_CHECK(!result.complete && !result.status);  // waits for the rest of the message
    return Step::kWaiting;
  }
  const std::string_view body(before.data() + 5, length);
  if (flag == 1) {
    if (encoding != "gzip" && encoding != "deflate") {
      FUZZ_CHECK(result.status && result.status->error_code() == grpc::StatusCode::INTERNAL);
      return Step::kFailed;
    }
    bool matches = false;
    const Inflated model = inflate_model(body, encoding == "gzip", limit,
                                         result.complete ? &message : nullptr, &matches);
    if (model != Inflated::kOk) {
      // Over the limit once inflated: RESOURCE_EXHAUSTED, as gRPC answers; corrupt: INTERNAL.
      FUZZ_CHECK(result.status && !result.complete);
      FUZZ_CHECK(result.status->error_code() == (model == Inflated::kTooBig
                                                     ? grpc::StatusCode::RESOURCE_EXHAUSTED
                                                     : grpc::StatusCode::INTERNAL));
      FUZZ_CHECK(!result.status->error_message().empty());
      return Step::kFailed;
    }
    FUZZ_CHECK(result.complete);
    FUZZ_CHECK(matches);  // exactly the bytes the body inflates to
  } else {
    FUZZ_CHECK(result.complete);
    FUZZ_CHECK(message == body);
  }
  FUZZ_CHECK(message.size() <= limit);
  FUZZ_CHECK(buffer == std::string_view(before).substr(5 + std::size_t{length}));
  *consumed += 5 + std::uint64_t{length};
  return Step::kTaken;
}

// Feeds the wire in chunks as DATA frames would arrive, taking every whole message after each.
void check_framing(std::string_view wire, std::size_t chunk, std::uint64_t limit,
                   std::string_view encoding) {
  std::string buffer;
  std::uint64_t fed = 0;
  std::uint64_t consumed = 0;
  std::size_t at = 0;
  do {
    const std::string_view piece = wire.substr(at, chunk);
    at += piece.size();
    buffer.append(piece);
    fed += piece.size();
    Step step;
    while ((step = take_one(buffer, limit, encoding, &consumed)) == Step::kTaken) {
    }
    FUZZ_CHECK(consumed + buffer.size() == fed);  // no byte lost or invented
    if (step == Step::kFailed) return;            // the stream failed; nothing more is read
  } while (at < wire.size());
  FUZZ_CHECK(fed == wire.size());
}

void check_timeout(std::string_view text) {
  bool valid = text.size() >= 2 && text.size() <= 9;
  __int128 value = 0;
  for (std::size_t i = 0; valid && i + 1 < text.size(); ++i) {
    valid = text[i] >= '0' && text[i] <= '9';
    value = value * 10 + (text[i] - '0');
  }
  __int128 nanos_per_unit = 0;
  switch (valid ? text.back() : '\0') {
    case 'H': nanos_per_unit = 3600'000'000'000; break;
    case 'M': nanos_per_unit = 60'000'000'000; break;
    case 'S': nanos_per_unit = 1'000'000'000; break;
    case 'm': nanos_per_unit = 1'000'000; break;
    case 'u': nanos_per_unit = 1'000; break;
    case 'n': nanos_per_unit = 1; break;
    default: valid = false;
  }
  const __int128 nanos = value * nanos_per_unit;
  // Longer than kNoTimeout (8 digits of hours overflow nanoseconds) saturates to it.
  const __int128 expected = nanos < kNoTimeout.count() ? nanos : kNoTimeout.count();
  const auto parsed = parse_grpc_timeout(text);
  FUZZ_CHECK(parsed.has_value() == valid);
  if (parsed) FUZZ_CHECK(parsed->count() == static_cast<std::int64_t>(expected));
}

int hex_value(char c) {
  if (c >= '0' && c <= '9') return c - '0';
  if (c >= 'A' && c <= 'F') return c - 'A' + 10;
  return -1;
}

void check_percent_encoding(std::string_view text) {
  const std::string encoded = percent_encode(text);
  std::string decoded;
  for (std::size_t i = 0; i < encoded.size(); ++i) {
    const auto byte = static_cast<unsigned char>(encoded[i]);
    FUZZ_CHECK(byte >= 0x20 && byte <= 0x7e);  // fits an HTTP/2 header value as is
    if (encoded[i] != '%') {
      decoded += encoded[i];
      continue;
    }
    FUZZ_CHECK(i + 2 < encoded.size());
    const int high = hex_value(encoded[i + 1]);
    const int low = hex_value(encoded[i + 2]);
    FUZZ_CHECK(high >= 0 && low >= 0);
    decoded += static_cast<char>(high * 16 + low);
    i += 2;
  }
  FUZZ_CHECK(decoded == text);
}

void check_base64(std::string_view bytes) {
  const std::string encoded = base64_encode(bytes);
  FUZZ_CHECK(encoded.size() == (bytes.size() * 4 + 2) / 3);  // unpadded
  FUZZ_CHECK(encoded.find_first_not_of("ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz"
                                       "0123456789+/") == std::string::npos);
  FUZZ_CHECK(base64_decode(encoded) == bytes);
  const std::string padded = encoded + std::string((4 - encoded.size() % 4) % 4, '=');
  FUZZ_CHECK(base64_decode(padded) == bytes);
  // Arbitrary text decodes without reading past it: at most 3 bytes per 4 characters.
  FUZZ_CHECK(base64_decode(bytes).size() <= bytes.size() * 3 / 4);
}

void check_frame_round_trip(std::string_view text, int choice) {
  static constexpr Compression kCompressions[] = {Compression::kNone, Compression::kGzip,
                                                  Compression::kDeflate};
  static constexpr std::string_view kNames[] = {"identity", "gzip", "deflate"};
  const Compression compression = kCompressions[choice];
  std::string framed = "prefix";
  FUZZ_CHECK(frame_message(text, compression, &framed));
  FUZZ_CHECK(framed.size() >= 6 + 5);
  FUZZ_CHECK(framed[6] == (compression == Compression::kNone ? 0 : 1));
  FUZZ_CHECK(length_of(std::string_view(framed).substr(6)) == framed.size() - 11);
  framed.erase(0, 6);
  std::string again = framed + "next";
  std::string message;
  const FrameResult result = take_message(again, ~std::uint64_t{0}, kNames[choice], &message);
  FUZZ_CHECK(result.complete && !result.status);
  FUZZ_CHECK(message == text);
  FUZZ_CHECK(again == "next");
  if (compression == Compression::kNone && !text.empty()) {
    std::string tight = framed;
    FUZZ_CHECK(take_message(tight, text.size(), "", &message).complete);
    tight = framed;
    const FrameResult over = take_message(tight, text.size() - 1, "", &message);
    FUZZ_CHECK(over.status && over.status->error_code() == grpc::StatusCode::RESOURCE_EXHAUSTED);
  }
}

}  // namespace
}  // namespace gryphon::internal

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
  using namespace gryphon::internal;
  if (size < 3) return 0;
  const std::string_view input(reinterpret_cast<const char*>(data), size);
  const std::string_view encoding = kEncodings[data[0] & 7];
  const std::size_t chunk_root = data[0] >> 3;
  const std::size_t chunk = chunk_root == 0 ? size : chunk_root * chunk_root;
  const std::uint64_t limit = kLimits[data[1] & 15];
  const int round_trip = (data[1] >> 4) % 3;
  const std::size_t side_size = std::min<std::size_t>(data[2], size - 3);
  const std::string_view side = input.substr(3, side_size);
  const std::string_view wire = input.substr(3 + side_size);

  check_timeout(side);
  check_percent_encoding(side);
  check_base64(side);
  check_frame_round_trip(side, round_trip);
  check_framing(wire, chunk, limit, encoding);
  return 0;
}
