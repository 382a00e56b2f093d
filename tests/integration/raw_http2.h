// A raw TCP client that speaks just enough HTTP/2 by hand to send what no gRPC client would:
// garbage, HTTP/1.1, a cut-off preface, malformed gRPC framing, oversized headers. It encodes
// headers as HPACK literals without indexing (no Huffman), decodes what the server answers
// (static and dynamic tables; Huffman-coded strings are shown as such, not decoded) and
// describes every frame it receives, so a test can print exactly what the server said.
//
// Single-threaded and blocking with deadlines; loopback IPv4 only. Not a conformant HTTP/2
// implementation: flow control is ignored (requests are small), SETTINGS and PING are acked.
#pragma once

#include <chrono>
#include <cstdint>
#include <map>
#include <optional>
#include <set>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

#include <nghttp2/nghttp2.h>

namespace gryphon::test::http2 {

using Millis = std::chrono::milliseconds;
using Header = std::pair<std::string, std::string>;

inline constexpr std::string_view kPreface = "PRI * HTTP/2.0\r\n\r\nSM\r\n\r\n";

enum FrameType : std::uint8_t {
  kData = 0,
  kHeaders = 1,
  kRstStream = 3,
  kSettings = 4,
  kPing = 6,
  kGoaway = 7,
  kWindowUpdate = 8,
};
enum FrameFlag : std::uint8_t { kEndStream = 0x1, kAck = 0x1, kEndHeaders = 0x4 };

// One frame: the 9-byte header plus `payload`.
std::string frame(std::uint8_t type, std::uint8_t flags, std::uint32_t stream,
                  std::string_view payload);
// A header block of literal-without-indexing fields with new names.
std::string header_block(const std::vector<Header>& headers);
// The headers a gRPC unary request to `path` carries, plus `extra`.
std::vector<Header> grpc_request_headers(const std::string& path,
                                         const std::vector<Header>& extra = {});
// A gRPC length-prefixed message: flag byte, 4-byte big-endian length, then `message`.
std::string grpc_message(std::string_view message, bool compressed = false);
// The same with a length prefix that claims `claimed_length` bytes.
std::string grpc_message_claiming(std::string_view message, std::uint32_t claimed_length);
// "PROTOCOL_ERROR(1)" and so on.
std::string error_code_name(std::uint32_t code);

class HpackDecoder {
 public:
  HpackDecoder();
  ~HpackDecoder();
  HpackDecoder(const HpackDecoder&) = delete;
  HpackDecoder& operator=(const HpackDecoder&) = delete;
  // Decodes one complete header block; false with `error` set on what it cannot decode.
  bool decode(std::string_view block, std::vector<Header>* out, std::string* error);

 private:
  nghttp2_hd_inflater* inflater_ = nullptr;  // nghttp2's decoder: Huffman and the dynamic table
};

// What the server sent back, frame by frame, and how the conversation ended.
struct Answer {
  std::vector<std::string> frames;                       // each received frame, described
  std::map<std::uint32_t, std::vector<Header>> headers;  // per stream: headers, then trailers
  std::map<std::uint32_t, std::uint32_t> resets;         // per stream: RST_STREAM error code
  std::set<std::uint32_t> ended;                         // streams ended (END_STREAM or RST_STREAM)
  std::optional<std::uint32_t> goaway;                   // GOAWAY error code
  std::string goaway_debug;
  bool closed = false;        // the server closed the TCP connection (EOF or reset)
  std::string close_how;      // "EOF" or the errno name
  long closed_after_ms = -1;  // since the conversation started
  std::string unparsed;       // bytes that were not HTTP/2 frames (hex, first 64)

  bool stream_ended(std::uint32_t stream = 1) const { return ended.count(stream) != 0; }
  // The value of the first header `name` on `stream`, or "" when absent.
  std::string header(const std::string& name, std::uint32_t stream = 1) const;
  // One line for the test report: the frames, then how it ended.
  std::string summary() const;
};

// A blocking TCP connection to "127.0.0.1:port"; the socket closes on destruction.
class RawConnection {
 public:
  explicit RawConnection(const std::string& target);
  ~RawConnection();
  RawConnection(const RawConnection&) = delete;
  RawConnection& operator=(const RawConnection&) = delete;

  bool connected() const { return fd_ >= 0; }
  int fd() const { return fd_; }
  // Writes all of `bytes`; false if the server had already closed the connection.
  bool send(std::string_view bytes);
  void shutdown_write();
  // Sends the client preface and an empty SETTINGS, then reads until the server's SETTINGS has
  // arrived and been acked and the server has acked ours; false if that does not happen within
  // `timeout`. Until a client acks them, gRPC does not apply the limits those SETTINGS announce.
  bool handshake(Millis timeout);
  // Reads and describes frames, acking SETTINGS and PING, until every stream in `streams` has
  // ended, a GOAWAY arrives (when `stop_at_goaway`), the server closes the connection, or
  // `timeout` passes.
  Answer converse(Millis timeout, bool stop_at_goaway = true,
                  const std::set<std::uint32_t>& streams = {1});
  // Waits until the server closes the connection (EOF or reset) or `timeout` passes; returns
  // the milliseconds it took, or nullopt. Whatever arrives meanwhile is appended to `received`.
  std::optional<long> wait_closed(Millis timeout, std::string* received = nullptr);
  // True if the server has closed the connection already (does not block).
  bool closed_by_peer();

 private:
  int fd_ = -1;
};

// Describes a buffer of server bytes as frames (for connections the test only watched close).
std::string describe_frames(std::string_view bytes);

}  // namespace gryphon::test::http2
