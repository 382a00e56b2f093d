#include "h2_output_check.h"

#include <cstdio>
#include <cstdlib>
#include <optional>
#include <utility>

namespace gryphon::fuzz {
namespace {

[[noreturn]] void fail(const std::string& what, std::uint32_t stream_id) {
  std::fprintf(stderr,
               "h2_output_check.cc: invariant broken in the server's output: %s (stream %u)\n",
               what.c_str(), stream_id);
  std::abort();
}

std::uint32_t be32(const unsigned char* p) {
  return std::uint32_t{p[0]} << 24 | std::uint32_t{p[1]} << 16 | std::uint32_t{p[2]} << 8 | p[3];
}

// Removes PADDED's pad length and padding, and PRIORITY's 5 bytes, from a DATA or HEADERS payload.
std::string_view strip(std::string_view payload, std::uint8_t flags, bool headers,
                       std::uint32_t stream_id) {
  std::size_t pad = 0;
  if (flags & NGHTTP2_FLAG_PADDED) {
    if (payload.empty()) fail("PADDED frame without its pad length", stream_id);
    pad = static_cast<unsigned char>(payload[0]);
    payload.remove_prefix(1);
  }
  if (headers && (flags & NGHTTP2_FLAG_PRIORITY)) {
    if (payload.size() < 5) fail("HEADERS with PRIORITY shorter than 5 bytes", stream_id);
    payload.remove_prefix(5);
  }
  if (pad > payload.size()) fail("padding longer than the frame", stream_id);
  payload.remove_suffix(pad);
  return payload;
}

}  // namespace

H2OutputCheck::H2OutputCheck() {
  if (nghttp2_hd_inflate_new(&inflater_) != 0) fail("nghttp2_hd_inflate_new failed (memory?)", 0);
}

H2OutputCheck::~H2OutputCheck() {
  nghttp2_hd_inflate_del(inflater_);
}

void H2OutputCheck::feed(std::string_view bytes, std::uint32_t max_frame_size) {
  pending_.append(bytes);
  std::size_t at = 0;
  while (pending_.size() - at >= 9) {
    const auto* p = reinterpret_cast<const unsigned char*>(pending_.data() + at);
    const std::uint32_t length = std::uint32_t{p[0]} << 16 | std::uint32_t{p[1]} << 8 | p[2];
    const std::uint32_t stream_id = be32(p + 5) & 0x7fffffffu;
    if (p[5] & 0x80) fail("the reserved bit of the stream id is set", stream_id);
    if (length > max_frame_size) {
      fail("a frame of " + std::to_string(length) + " bytes, over the client's max frame size " +
               std::to_string(max_frame_size),
           stream_id);
    }
    if (pending_.size() - at < 9 + length) break;
    frame(p[3], p[4], stream_id, std::string_view(pending_).substr(at + 9, length));
    at += 9 + length;
  }
  pending_.erase(0, at);
}

void H2OutputCheck::finish() const {
  if (!pending_.empty()) {
    fail("the output ends inside a frame (" + std::to_string(pending_.size()) + " bytes left)", 0);
  }
  if (in_block_) fail("the output ends inside a header block (no END_HEADERS)", block_stream_);
}

void H2OutputCheck::frame(std::uint8_t type, std::uint8_t flags, std::uint32_t id,
                          std::string_view payload) {
  if (trace_) {
    std::fprintf(stderr, "  frame type %u flags 0x%02x stream %u length %zu\n", type, flags, id,
                 payload.size());
  }
  if (frames_++ == 0 && (type != NGHTTP2_SETTINGS || (flags & NGHTTP2_FLAG_ACK)))
    fail("the server's preface is not a SETTINGS frame", id);
  if (in_block_ && type != NGHTTP2_CONTINUATION)
    fail("frame type " + std::to_string(type) + " inside a header block", id);
  const bool on_stream = type == NGHTTP2_DATA || type == NGHTTP2_HEADERS ||
                         type == NGHTTP2_PRIORITY || type == NGHTTP2_RST_STREAM ||
                         type == NGHTTP2_CONTINUATION;
  if (on_stream && id == 0) fail("frame type " + std::to_string(type) + " on stream 0", id);
  if (!on_stream && type != NGHTTP2_WINDOW_UPDATE && id != 0)
    fail("frame type " + std::to_string(type) + " on a stream, not the connection", id);
  if ((type == NGHTTP2_DATA || type == NGHTTP2_HEADERS) && id % 2 == 0)
    fail("a response on an even (server-initiated) stream", id);
  switch (type) {
    case NGHTTP2_DATA: {
      if (flags & ~(NGHTTP2_FLAG_END_STREAM | NGHTTP2_FLAG_PADDED)) fail("DATA flags", id);
      StreamState& stream = streams_[id];
      if (!stream.headers_seen) fail("DATA before the response headers", id);
      if (stream.ended) fail("DATA after the stream ended", id);
      data(stream, strip(payload, flags, false, id));
      if (flags & NGHTTP2_FLAG_END_STREAM) {
        if (stream.grpc) fail("a gRPC response ended by DATA, without trailers", id);
        stream.ended = true;
      }
      return;
    }
    case NGHTTP2_HEADERS: {
      constexpr std::uint8_t kAllowed = NGHTTP2_FLAG_END_STREAM | NGHTTP2_FLAG_END_HEADERS |
                                        NGHTTP2_FLAG_PADDED | NGHTTP2_FLAG_PRIORITY;
      if (flags & ~kAllowed) fail("HEADERS flags", id);
      if (streams_[id].ended) fail("HEADERS after the stream ended", id);
      in_block_ = true;
      block_stream_ = id;
      block_end_stream_ = (flags & NGHTTP2_FLAG_END_STREAM) != 0;
      block_.assign(strip(payload, flags, true, id));
      if (flags & NGHTTP2_FLAG_END_HEADERS) header_block_done(id, block_end_stream_);
      return;
    }
    case NGHTTP2_CONTINUATION:
      if (!in_block_ || block_stream_ != id) fail("CONTINUATION without its HEADERS", id);
      if (flags & ~NGHTTP2_FLAG_END_HEADERS) fail("CONTINUATION flags", id);
      block_.append(payload);
      if (flags & NGHTTP2_FLAG_END_HEADERS) header_block_done(id, block_end_stream_);
      return;
    case NGHTTP2_PRIORITY:
      if (payload.size() != 5) fail("PRIORITY is not 5 bytes", id);
      return;
    case NGHTTP2_RST_STREAM:
      if (payload.size() != 4) fail("RST_STREAM is not 4 bytes", id);
      streams_[id].ended = true;
      return;
    case NGHTTP2_SETTINGS:
      if (flags & ~NGHTTP2_FLAG_ACK) fail("SETTINGS flags", id);
      if ((flags & NGHTTP2_FLAG_ACK) ? !payload.empty() : payload.size() % 6 != 0)
        fail("SETTINGS of " + std::to_string(payload.size()) + " bytes", id);
      for (std::size_t i = 0; i + 6 <= payload.size(); i += 6) {
        const auto* p = reinterpret_cast<const unsigned char*>(payload.data() + i);
        const std::uint16_t key = static_cast<std::uint16_t>(p[0] << 8 | p[1]);
        const std::uint32_t value = be32(p + 2);
        if ((key == NGHTTP2_SETTINGS_ENABLE_PUSH && value > 1) ||
            (key == NGHTTP2_SETTINGS_INITIAL_WINDOW_SIZE && value > 0x7fffffffu) ||
            (key == NGHTTP2_SETTINGS_MAX_FRAME_SIZE && (value < 16384 || value > 0xffffff))) {
          fail("SETTINGS " + std::to_string(key) + " = " + std::to_string(value), id);
        }
      }
      return;
    case NGHTTP2_PUSH_PROMISE: fail("PUSH_PROMISE: gryphon never pushes", id);
    case NGHTTP2_PING:
      if (payload.size() != 8 || (flags & ~NGHTTP2_FLAG_ACK)) fail("PING frame", id);
      return;
    case NGHTTP2_GOAWAY:
      if (payload.size() < 8) fail("GOAWAY shorter than 8 bytes", id);
      return;
    case NGHTTP2_WINDOW_UPDATE:
      if (payload.size() != 4) fail("WINDOW_UPDATE is not 4 bytes", id);
      if ((be32(reinterpret_cast<const unsigned char*>(payload.data())) & 0x7fffffffu) == 0)
        fail("WINDOW_UPDATE of 0 (a protocol error)", id);
      return;
    default: fail("unknown frame type " + std::to_string(type), id);
  }
}

void H2OutputCheck::header_block_done(std::uint32_t id, bool end_stream) {
  in_block_ = false;
  std::vector<std::pair<std::string, std::string>> fields;
  auto* in = reinterpret_cast<std::uint8_t*>(block_.data());
  std::size_t left = block_.size();
  for (;;) {
    nghttp2_nv nv;
    int inflate_flags = 0;
    const ssize_t used = nghttp2_hd_inflate_hd2(inflater_, &nv, &inflate_flags, in, left, 1);
    if (used < 0)
      fail("a header block HPACK cannot decode: " +
               std::string(nghttp2_strerror(static_cast<int>(used))),
           id);
    in += used;
    left -= static_cast<std::size_t>(used);
    if (inflate_flags & NGHTTP2_HD_INFLATE_EMIT) {
      fields.emplace_back(std::string(reinterpret_cast<char*>(nv.name), nv.namelen),
                          std::string(reinterpret_cast<char*>(nv.value), nv.valuelen));
      if (trace_) {
        std::fprintf(stderr, "    %s: %.200s\n", fields.back().first.c_str(),
                     fields.back().second.c_str());
      }
    }
    if (inflate_flags & NGHTTP2_HD_INFLATE_FINAL) break;
    if (used == 0 && left == 0) fail("HPACK wants more bytes after the final fragment", id);
  }
  nghttp2_hd_inflate_end_headers(inflater_);
  block_.clear();

  std::optional<std::string> grpc_status;
  bool pseudo_done = false;
  for (const auto& [name, value] : fields) {
    for (char c : name) {
      if (c >= 'A' && c <= 'Z') fail("upper-case header name " + name, id);
    }
    for (char c : value) {
      if (c == '\r' || c == '\n' || c == '\0') fail("CR, LF or NUL in the value of " + name, id);
    }
    if (!name.empty() && name[0] == ':') {
      if (pseudo_done) fail("pseudo-header " + name + " after a regular field", id);
    } else {
      pseudo_done = true;
    }
    if (name == "grpc-status") grpc_status = value;
  }
  StreamState& stream = streams_[id];
  const bool trailers = stream.headers_seen;
  if (!trailers) {
    if (fields.empty() || fields[0].first != ":status")
      fail("response headers that do not start with :status", id);
    stream.headers_seen = true;
    stream.grpc = fields[0].second == "200";
  } else {
    if (!end_stream) fail("a second header block without END_STREAM", id);
    for (const auto& field : fields) {
      if (field.first[0] == ':') fail("pseudo-header " + field.first + " in trailers", id);
    }
  }
  if (stream.grpc && end_stream) {
    if (!grpc_status) fail("a gRPC response ended without grpc-status", id);
    const std::string& code = *grpc_status;
    if (code.empty() || code.size() > 2 || code.find_first_not_of("0123456789") != code.npos ||
        std::stoi(code) > 16) {
      fail("grpc-status '" + code + "' is not a code 0..16", id);
    }
    if (stream.prefix_have != 0 || stream.body_left != 0)
      fail("the trailers cut a response message short", id);
  }
  if (end_stream) stream.ended = true;
}

// Follows the length-prefixed messages (RFC: gRPC over HTTP/2, "Length-Prefixed-Message").
void H2OutputCheck::data(StreamState& stream, std::string_view payload) {
  if (!stream.grpc) return;
  while (!payload.empty()) {
    if (stream.body_left > 0) {
      const std::size_t n = std::min<std::uint64_t>(stream.body_left, payload.size());
      stream.body_left -= n;
      payload.remove_prefix(n);
      continue;
    }
    stream.prefix[stream.prefix_have++] = static_cast<unsigned char>(payload[0]);
    payload.remove_prefix(1);
    if (stream.prefix_have < 5) continue;
    if (stream.prefix[0] > 1) fail("message flag " + std::to_string(stream.prefix[0]), 0);
    stream.body_left = be32(stream.prefix + 1);
    stream.prefix_have = 0;
  }
}

}  // namespace gryphon::fuzz
