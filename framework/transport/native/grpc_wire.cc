#include "transport/native/grpc_wire.h"

#include <zlib.h>

#include <cstring>

namespace gryphon::internal {
namespace {

constexpr char kBase64[] = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";

int base64_value(char c) {
  if (c >= 'A' && c <= 'Z') return c - 'A';
  if (c >= 'a' && c <= 'z') return c - 'a' + 26;
  if (c >= '0' && c <= '9') return c - '0' + 52;
  if (c == '+' || c == '-') return 62;
  if (c == '/' || c == '_') return 63;
  return -1;
}

enum class Inflate { kOk, kCorrupt, kTooBig };

// Inflates gzip or zlib ("deflate" in gRPC) data into `out`: kTooBig past `max_bytes`, kCorrupt
// on bad, truncated or trailing data.
Inflate inflate_all(std::string_view data, std::uint64_t max_bytes, bool gzip, std::string& out) {
  z_stream z{};
  if (inflateInit2(&z, gzip ? 15 + 16 : 15) != Z_OK) return Inflate::kCorrupt;
  z.next_in = reinterpret_cast<Bytef*>(const_cast<char*>(data.data()));
  z.avail_in = static_cast<uInt>(data.size());
  int result = Z_OK;
  bool too_big = false;
  while (result == Z_OK) {
    const std::size_t before = out.size();
    out.resize(before + 16384);
    z.next_out = reinterpret_cast<Bytef*>(out.data() + before);
    z.avail_out = 16384;
    result = inflate(&z, Z_NO_FLUSH);
    out.resize(before + 16384 - z.avail_out);
    if (out.size() > max_bytes) {
      too_big = true;
      break;
    }
  }
  const bool trailing = z.avail_in != 0;
  inflateEnd(&z);
  if (too_big) return Inflate::kTooBig;
  return result == Z_STREAM_END && !trailing ? Inflate::kOk : Inflate::kCorrupt;
}

}  // namespace

std::optional<std::chrono::nanoseconds> parse_grpc_timeout(std::string_view text) {
  if (text.size() < 2 || text.size() > 9) return std::nullopt;
  std::int64_t value = 0;
  for (char c : text.substr(0, text.size() - 1)) {
    if (c < '0' || c > '9') return std::nullopt;
    value = value * 10 + (c - '0');
  }
  using namespace std::chrono;
  std::int64_t unit = 0;  // nanoseconds per unit
  switch (text.back()) {
    case 'H': unit = 3'600'000'000'000; break;
    case 'M': unit = 60'000'000'000; break;
    case 'S': unit = 1'000'000'000; break;
    case 'm': unit = 1'000'000; break;
    case 'u': unit = 1'000; break;
    case 'n': unit = 1; break;
    default: return std::nullopt;
  }
  // 8 digits of hours do not fit in nanoseconds: saturate (kNoTimeout and beyond mean none).
  if (value > kNoTimeout.count() / unit) return kNoTimeout;
  return nanoseconds(value * unit);
}

std::string base64_encode(std::string_view bytes) {
  std::string out;
  std::size_t i = 0;
  for (; i + 3 <= bytes.size(); i += 3) {
    const auto n = (static_cast<std::uint8_t>(bytes[i]) << 16) |
                   (static_cast<std::uint8_t>(bytes[i + 1]) << 8) |
                   static_cast<std::uint8_t>(bytes[i + 2]);
    for (int shift : {18, 12, 6, 0}) out += kBase64[(n >> shift) & 63];
  }
  if (bytes.size() - i == 1) {
    const auto n = static_cast<std::uint8_t>(bytes[i]) << 16;
    out += kBase64[(n >> 18) & 63];
    out += kBase64[(n >> 12) & 63];
  } else if (bytes.size() - i == 2) {
    const auto n = (static_cast<std::uint8_t>(bytes[i]) << 16) |
                   (static_cast<std::uint8_t>(bytes[i + 1]) << 8);
    for (int shift : {18, 12, 6}) out += kBase64[(n >> shift) & 63];
  }
  return out;
}

std::string base64_decode(std::string_view text) {
  std::string out;
  std::uint32_t bits = 0;
  int count = 0;
  for (char c : text) {
    if (c == '=') break;
    const int value = base64_value(c);
    if (value < 0) break;
    bits = (bits << 6) | static_cast<std::uint32_t>(value);
    if (++count == 4) {
      out += static_cast<char>((bits >> 16) & 0xff);
      out += static_cast<char>((bits >> 8) & 0xff);
      out += static_cast<char>(bits & 0xff);
      bits = 0;
      count = 0;
    }
  }
  if (count == 2) out += static_cast<char>((bits >> 4) & 0xff);
  if (count == 3) {
    out += static_cast<char>((bits >> 10) & 0xff);
    out += static_cast<char>((bits >> 2) & 0xff);
  }
  return out;
}

std::string percent_encode(std::string_view message) {
  static const char* hex = "0123456789ABCDEF";
  std::string out;
  for (char c : message) {
    const auto byte = static_cast<unsigned char>(c);
    if (byte >= 0x20 && byte <= 0x7e && byte != '%') {
      out += c;
    } else {
      out += '%';
      out += hex[byte >> 4];
      out += hex[byte & 15];
    }
  }
  return out;
}

FrameResult take_message(std::string& buffer, std::uint64_t max_bytes, std::string_view encoding,
                         std::string* message) {
  FrameResult result;
  if (buffer.size() < 5) return result;
  const auto flag = static_cast<std::uint8_t>(buffer[0]);
  const std::uint32_t length =
      (static_cast<std::uint32_t>(static_cast<std::uint8_t>(buffer[1])) << 24) |
      (static_cast<std::uint32_t>(static_cast<std::uint8_t>(buffer[2])) << 16) |
      (static_cast<std::uint32_t>(static_cast<std::uint8_t>(buffer[3])) << 8) |
      static_cast<std::uint8_t>(buffer[4]);
  if (flag > 1) {
    result.status =
        grpc::Status(grpc::StatusCode::INTERNAL, "a message's flag byte is neither 0 nor 1");
    return result;
  }
  if (length > max_bytes) {
    result.status = grpc::Status(grpc::StatusCode::RESOURCE_EXHAUSTED,
                                 "received message larger than max (" + std::to_string(length) +
                                     " vs. " + std::to_string(max_bytes) + ")");
    return result;
  }
  if (buffer.size() < 5 + static_cast<std::size_t>(length)) return result;
  const std::string_view body(buffer.data() + 5, length);
  if (flag == 1) {
    if (encoding != "gzip" && encoding != "deflate") {
      result.status =
          grpc::Status(grpc::StatusCode::INTERNAL,
                       "a compressed message without a grpc-encoding this server knows (identity, "
                       "deflate, gzip)");
      return result;
    }
    std::string inflated;
    switch (inflate_all(body, max_bytes, encoding == "gzip", inflated)) {
      case Inflate::kTooBig:
        result.status = grpc::Status(
            grpc::StatusCode::RESOURCE_EXHAUSTED,
            "received message decompresses to more than max (" + std::to_string(max_bytes) + ")");
        return result;
      case Inflate::kCorrupt:
        result.status =
            grpc::Status(grpc::StatusCode::INTERNAL, "a compressed message did not decompress");
        return result;
      case Inflate::kOk: break;
    }
    *message = std::move(inflated);
  } else {
    message->assign(body);
  }
  buffer.erase(0, 5 + static_cast<std::size_t>(length));
  result.complete = true;
  result.compressed = flag == 1;
  return result;
}

bool frame_message(std::string_view message, Compression compression, std::string* out) {
  std::string compressed;
  std::string_view body = message;
  if (compression != Compression::kNone) {
    z_stream z{};
    if (deflateInit2(&z, Z_DEFAULT_COMPRESSION, Z_DEFLATED,
                     compression == Compression::kGzip ? 15 + 16 : 15, 8,
                     Z_DEFAULT_STRATEGY) != Z_OK) {
      return false;
    }
    compressed.resize(deflateBound(&z, static_cast<uLong>(message.size())));
    z.next_in = reinterpret_cast<Bytef*>(const_cast<char*>(message.data()));
    z.avail_in = static_cast<uInt>(message.size());
    z.next_out = reinterpret_cast<Bytef*>(compressed.data());
    z.avail_out = static_cast<uInt>(compressed.size());
    const int result = deflate(&z, Z_FINISH);
    compressed.resize(compressed.size() - z.avail_out);
    deflateEnd(&z);
    if (result != Z_STREAM_END) return false;
    body = compressed;
  }
  const auto length = static_cast<std::uint32_t>(body.size());
  out->push_back(compression != Compression::kNone ? 1 : 0);
  for (int shift : {24, 16, 8, 0}) out->push_back(static_cast<char>((length >> shift) & 0xff));
  out->append(body);
  return true;
}

}  // namespace gryphon::internal
