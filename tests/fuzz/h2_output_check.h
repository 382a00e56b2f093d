// A small walker over the bytes an HTTP/2 server sends, for fuzz harnesses: it splits them into
// frames and checks that each is well-formed (RFC 9113 §4, §6), that every header block decodes
// with HPACK, and that each stream's response has gRPC's shape (headers, whole length-prefixed
// messages, trailers with grpc-status). Bytes may arrive in any pieces; finish() checks that
// they ended on a frame boundary. A broken rule prints what broke and aborts.
#pragma once

#include <nghttp2/nghttp2.h>

#include <cstddef>
#include <cstdint>
#include <map>
#include <string>
#include <string_view>
#include <vector>

namespace gryphon::fuzz {

class H2OutputCheck {
 public:
  H2OutputCheck();
  ~H2OutputCheck();
  H2OutputCheck(const H2OutputCheck&) = delete;
  H2OutputCheck& operator=(const H2OutputCheck&) = delete;

  // More server bytes. `max_frame_size` is the largest SETTINGS_MAX_FRAME_SIZE the client has
  // announced so far (16384 until it announces one).
  void feed(std::string_view bytes, std::uint32_t max_frame_size);
  // The server sent nothing more: no frame or header block may be left half-way.
  void finish() const;
  std::size_t frames() const { return frames_; }
  // Prints every frame and header field to stderr (for reading what a seed makes the server do).
  void set_trace(bool on) { trace_ = on; }

 private:
  struct StreamState {
    bool headers_seen = false;  // the response headers (or Trailers-Only) have left
    bool ended = false;         // END_STREAM or RST_STREAM has left
    bool grpc = false;          // :status 200: a gRPC response, checked as one
    std::size_t prefix_have = 0;
    unsigned char prefix[5] = {};
    std::uint64_t body_left = 0;  // bytes of the current message still to come
  };
  void frame(std::uint8_t type, std::uint8_t flags, std::uint32_t stream_id,
             std::string_view payload);
  void header_block_done(std::uint32_t stream_id, bool end_stream);
  void data(StreamState& stream, std::string_view payload);

  nghttp2_hd_inflater* inflater_ = nullptr;
  std::string pending_;  // bytes of a frame not complete yet
  std::size_t frames_ = 0;
  bool trace_ = false;
  // A header block split over HEADERS + CONTINUATION: its stream, END_STREAM and the bytes.
  bool in_block_ = false;
  std::uint32_t block_stream_ = 0;
  bool block_end_stream_ = false;
  std::string block_;
  std::map<std::uint32_t, StreamState> streams_;
};

}  // namespace gryphon::fuzz
