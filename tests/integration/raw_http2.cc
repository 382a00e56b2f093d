#include "raw_http2.h"

#include <arpa/inet.h>
#include <netinet/in.h>
#include <poll.h>
#include <sys/socket.h>
#include <unistd.h>

#include <algorithm>
#include <array>
#include <cerrno>
#include <cstring>
#include <sstream>

namespace gryphon::test::http2 {
namespace {

using Clock = std::chrono::steady_clock;

std::string integer(std::uint64_t value, int prefix_bits, std::uint8_t high_bits) {
  const std::uint64_t max = (1u << prefix_bits) - 1;
  std::string out;
  if (value < max) {
    out.push_back(static_cast<char>(high_bits | value));
    return out;
  }
  out.push_back(static_cast<char>(high_bits | max));
  value -= max;
  while (value >= 128) {
    out.push_back(static_cast<char>((value % 128) + 128));
    value /= 128;
  }
  out.push_back(static_cast<char>(value));
  return out;
}

std::string literal_string(std::string_view text) {
  return integer(text.size(), 7, 0) + std::string(text);
}

std::uint32_t be32(std::string_view bytes) {
  std::uint32_t v = 0;
  for (int i = 0; i < 4; ++i)
    v = (v << 8) | static_cast<std::uint8_t>(bytes[static_cast<std::size_t>(i)]);
  return v;
}

std::string hex(std::string_view bytes, std::size_t limit = 64) {
  static const char* digits = "0123456789abcdef";
  std::string out;
  for (std::size_t i = 0; i < bytes.size() && i < limit; ++i) {
    const auto b = static_cast<std::uint8_t>(bytes[i]);
    out += digits[b >> 4];
    out += digits[b & 15];
  }
  if (bytes.size() > limit) out += "...";
  return out;
}

std::string printable(std::string_view text) {
  std::string out;
  for (char c : text) out += (c >= 32 && c < 127) ? c : '.';
  return out;
}

struct Frame {
  std::uint8_t type = 0;
  std::uint8_t flags = 0;
  std::uint32_t stream = 0;
  std::string payload;
};

// Takes the complete frames off the front of `buffer`; false if the next bytes cannot be a frame
// (a length beyond 16 MiB or an unknown type), which means the server did not speak HTTP/2.
bool take_frames(std::string& buffer, std::vector<Frame>* frames) {
  while (buffer.size() >= 9) {
    const std::uint32_t length = (static_cast<std::uint8_t>(buffer[0]) << 16) |
                                 (static_cast<std::uint8_t>(buffer[1]) << 8) |
                                 static_cast<std::uint8_t>(buffer[2]);
    const auto type = static_cast<std::uint8_t>(buffer[3]);
    if (type > 9) return false;
    if (buffer.size() < 9 + length) break;
    Frame f;
    f.type = type;
    f.flags = static_cast<std::uint8_t>(buffer[4]);
    f.stream = be32(std::string_view(buffer).substr(5, 4)) & 0x7fffffffu;
    f.payload = buffer.substr(9, length);
    frames->push_back(std::move(f));
    buffer.erase(0, 9 + length);
  }
  return true;
}

const char* type_name(std::uint8_t type) {
  static const char* names[] = {"DATA",          "HEADERS",      "PRIORITY", "RST_STREAM",
                                "SETTINGS",      "PUSH_PROMISE", "PING",     "GOAWAY",
                                "WINDOW_UPDATE", "CONTINUATION"};
  return type <= 9 ? names[type] : "UNKNOWN";
}

// Describes `f`, decoding headers with `hpack` and recording what matters in `answer`.
std::string describe(const Frame& f, HpackDecoder& hpack, Answer* answer) {
  std::ostringstream out;
  out << type_name(f.type);
  if (f.stream != 0) out << "[" << f.stream << "]";
  switch (f.type) {
    case kSettings:
      if (f.flags & kAck) {
        out << " ACK";
      } else {
        out << " {";
        for (std::size_t at = 0; at + 6 <= f.payload.size(); at += 6) {
          const unsigned id = (static_cast<std::uint8_t>(f.payload[at]) << 8) |
                              static_cast<std::uint8_t>(f.payload[at + 1]);
          out << (at ? " " : "") << id << "="
              << be32(std::string_view(f.payload).substr(at + 2, 4));
        }
        out << "}";
      }
      break;
    case kHeaders: {
      std::vector<Header> headers;
      std::string error;
      out << " {";
      if (!hpack.decode(f.payload, &headers, &error)) out << "undecodable: " << error;
      for (std::size_t i = 0; i < headers.size(); ++i) {
        out << (i ? ", " : "") << headers[i].first << ": " << headers[i].second;
      }
      out << "}";
      auto& stream_headers = answer->headers[f.stream];
      stream_headers.insert(stream_headers.end(), headers.begin(), headers.end());
      if (f.flags & kEndStream) {
        out << " END_STREAM";
        answer->ended.insert(f.stream);
      }
      break;
    }
    case kData:
      out << " " << f.payload.size() << " bytes " << hex(f.payload, 32);
      if (f.flags & kEndStream) {
        out << " END_STREAM";
        answer->ended.insert(f.stream);
      }
      break;
    case kRstStream:
      if (f.payload.size() >= 4) {
        const std::uint32_t code = be32(f.payload);
        out << " " << error_code_name(code);
        answer->resets[f.stream] = code;
        answer->ended.insert(f.stream);
      }
      break;
    case kGoaway:
      if (f.payload.size() >= 8) {
        const std::uint32_t code = be32(std::string_view(f.payload).substr(4, 4));
        answer->goaway = code;
        answer->goaway_debug = printable(std::string_view(f.payload).substr(8));
        out << " last_stream=" << (be32(f.payload) & 0x7fffffffu) << " " << error_code_name(code)
            << " debug='" << answer->goaway_debug << "'";
      }
      break;
    case kPing:
      if (f.flags & kAck) out << " ACK";
      break;
    case kWindowUpdate:
      if (f.payload.size() >= 4) out << " +" << (be32(f.payload) & 0x7fffffffu);
      break;
    default: break;
  }
  return out.str();
}

}  // namespace

std::string frame(std::uint8_t type, std::uint8_t flags, std::uint32_t stream,
                  std::string_view payload) {
  std::string out;
  const auto length = static_cast<std::uint32_t>(payload.size());
  out.push_back(static_cast<char>((length >> 16) & 0xff));
  out.push_back(static_cast<char>((length >> 8) & 0xff));
  out.push_back(static_cast<char>(length & 0xff));
  out.push_back(static_cast<char>(type));
  out.push_back(static_cast<char>(flags));
  for (int shift = 24; shift >= 0; shift -= 8)
    out.push_back(static_cast<char>((stream >> shift) & 0xff));
  out.append(payload);
  return out;
}

std::string header_block(const std::vector<Header>& headers) {
  std::string block;
  for (const auto& [name, value] : headers)
    block += '\0' + literal_string(name) + literal_string(value);
  return block;
}

std::vector<Header> grpc_request_headers(const std::string& path,
                                         const std::vector<Header>& extra) {
  std::vector<Header> headers{{":method", "POST"},
                              {":scheme", "http"},
                              {":path", path},
                              {":authority", "localhost"},
                              {"content-type", "application/grpc"},
                              {"te", "trailers"}};
  headers.insert(headers.end(), extra.begin(), extra.end());
  return headers;
}

std::string grpc_message_claiming(std::string_view message, std::uint32_t claimed_length) {
  std::string out(1, '\0');
  for (int shift = 24; shift >= 0; shift -= 8)
    out.push_back(static_cast<char>((claimed_length >> shift) & 0xff));
  out.append(message);
  return out;
}

std::string grpc_message(std::string_view message, bool compressed) {
  std::string out = grpc_message_claiming(message, static_cast<std::uint32_t>(message.size()));
  out[0] = compressed ? '\1' : '\0';
  return out;
}

std::string error_code_name(std::uint32_t code) {
  static const char* names[] = {"NO_ERROR",
                                "PROTOCOL_ERROR",
                                "INTERNAL_ERROR",
                                "FLOW_CONTROL_ERROR",
                                "SETTINGS_TIMEOUT",
                                "STREAM_CLOSED",
                                "FRAME_SIZE_ERROR",
                                "REFUSED_STREAM",
                                "CANCEL",
                                "COMPRESSION_ERROR",
                                "CONNECT_ERROR",
                                "ENHANCE_YOUR_CALM",
                                "INADEQUATE_SECURITY",
                                "HTTP_1_1_REQUIRED"};
  return std::string(code < 14 ? names[code] : "UNKNOWN") + "(" + std::to_string(code) + ")";
}

HpackDecoder::HpackDecoder() {
  nghttp2_hd_inflate_new(&inflater_);
}

HpackDecoder::~HpackDecoder() {
  nghttp2_hd_inflate_del(inflater_);
}

bool HpackDecoder::decode(std::string_view in, std::vector<Header>* out, std::string* error) {
  if (inflater_ == nullptr) {
    *error = "no HPACK decoder (out of memory)";
    return false;
  }
  auto* data = reinterpret_cast<const std::uint8_t*>(in.data());
  std::size_t left = in.size();
  while (true) {
    nghttp2_nv nv;
    int flags = 0;
    const ssize_t used = nghttp2_hd_inflate_hd2(inflater_, &nv, &flags, data, left, 1);
    if (used < 0) {
      *error = nghttp2_strerror(static_cast<int>(used));
      return false;
    }
    data += used;
    left -= static_cast<std::size_t>(used);
    if (flags & NGHTTP2_HD_INFLATE_EMIT) {
      out->emplace_back(std::string(reinterpret_cast<const char*>(nv.name), nv.namelen),
                        std::string(reinterpret_cast<const char*>(nv.value), nv.valuelen));
    }
    if (flags & NGHTTP2_HD_INFLATE_FINAL) {
      nghttp2_hd_inflate_end_headers(inflater_);
      return true;
    }
    if (used == 0 && left == 0 && !(flags & NGHTTP2_HD_INFLATE_EMIT)) {
      *error = "truncated header block";
      return false;
    }
  }
}

std::string Answer::header(const std::string& name, std::uint32_t stream) const {
  const auto it = headers.find(stream);
  if (it == headers.end()) return "";
  for (const auto& [key, value] : it->second) {
    if (key == name) return value;
  }
  return "";
}

std::string Answer::summary() const {
  std::ostringstream out;
  for (const auto& f : frames) out << f << "; ";
  if (!unparsed.empty()) out << "non-HTTP/2 bytes " << unparsed << "; ";
  if (closed) {
    out << "connection closed (" << close_how << ") after " << closed_after_ms << "ms";
  } else {
    out << "connection still open";
  }
  return out.str();
}

RawConnection::RawConnection(const std::string& target) {
  const auto colon = target.rfind(':');
  sockaddr_in addr{};
  addr.sin_family = AF_INET;
  addr.sin_port = htons(static_cast<std::uint16_t>(std::stoi(target.substr(colon + 1))));
  ::inet_pton(AF_INET, target.substr(0, colon).c_str(), &addr.sin_addr);
  fd_ = ::socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
  if (fd_ >= 0 && ::connect(fd_, reinterpret_cast<sockaddr*>(&addr), sizeof(addr)) != 0) {
    ::close(fd_);
    fd_ = -1;
  }
}

RawConnection::~RawConnection() {
  if (fd_ >= 0) ::close(fd_);
}

bool RawConnection::send(std::string_view bytes) {
  while (!bytes.empty()) {
    const ssize_t n = ::send(fd_, bytes.data(), bytes.size(), MSG_NOSIGNAL);
    if (n < 0 && errno == EINTR) continue;
    if (n <= 0) return false;
    bytes.remove_prefix(static_cast<std::size_t>(n));
  }
  return true;
}

void RawConnection::shutdown_write() {
  ::shutdown(fd_, SHUT_WR);
}

bool RawConnection::closed_by_peer() {
  pollfd p{fd_, POLLIN | POLLRDHUP, 0};
  if (::poll(&p, 1, 0) <= 0) return false;
  if (p.revents & (POLLRDHUP | POLLHUP | POLLERR)) return true;
  char byte;
  const ssize_t n = ::recv(fd_, &byte, 1, MSG_PEEK | MSG_DONTWAIT);
  return n == 0 || (n < 0 && errno != EAGAIN && errno != EWOULDBLOCK);
}

std::optional<long> RawConnection::wait_closed(Millis timeout, std::string* received) {
  const auto start = Clock::now();
  const auto deadline = start + timeout;
  char buffer[16384];
  while (true) {
    const auto left = std::chrono::duration_cast<Millis>(deadline - Clock::now()).count();
    if (left <= 0) return std::nullopt;
    pollfd p{fd_, POLLIN, 0};
    if (::poll(&p, 1, static_cast<int>(left)) <= 0) continue;
    const ssize_t n = ::recv(fd_, buffer, sizeof(buffer), MSG_DONTWAIT);
    if (n > 0) {
      if (received != nullptr) received->append(buffer, static_cast<std::size_t>(n));
      continue;
    }
    if (n < 0 && (errno == EAGAIN || errno == EINTR)) continue;
    return std::chrono::duration_cast<Millis>(Clock::now() - start).count();
  }
}

bool RawConnection::handshake(Millis timeout) {
  if (!send(std::string(kPreface) + frame(kSettings, 0, 0, ""))) return false;
  const auto deadline = Clock::now() + timeout;
  std::string buffer;
  bool acked_theirs = false, got_ack = false;
  char chunk[16384];
  while (!(acked_theirs && got_ack)) {
    const auto left = std::chrono::duration_cast<Millis>(deadline - Clock::now()).count();
    if (left <= 0) return false;
    pollfd p{fd_, POLLIN, 0};
    if (::poll(&p, 1, static_cast<int>(left)) <= 0) continue;
    const ssize_t n = ::recv(fd_, chunk, sizeof(chunk), MSG_DONTWAIT);
    if (n < 0 && (errno == EAGAIN || errno == EINTR)) continue;
    if (n <= 0) return false;
    buffer.append(chunk, static_cast<std::size_t>(n));
    std::vector<Frame> frames;
    if (!take_frames(buffer, &frames)) return false;
    for (const auto& f : frames) {
      if (f.type != kSettings) continue;
      if (f.flags & kAck) {
        got_ack = true;
      } else {
        send(frame(kSettings, kAck, 0, ""));
        acked_theirs = true;
      }
    }
  }
  return true;
}

Answer RawConnection::converse(Millis timeout, bool stop_at_goaway,
                               const std::set<std::uint32_t>& streams) {
  Answer answer;
  HpackDecoder hpack;
  std::string buffer;
  bool speaks_http2 = true;
  const auto start = Clock::now();
  const auto deadline = start + timeout;
  char chunk[16384];
  while (!answer.closed) {
    const bool all_ended = std::all_of(streams.begin(), streams.end(),
                                       [&](std::uint32_t s) { return answer.stream_ended(s); });
    if (all_ended || (stop_at_goaway && answer.goaway)) break;
    const auto left = std::chrono::duration_cast<Millis>(deadline - Clock::now()).count();
    if (left <= 0) break;
    pollfd p{fd_, POLLIN, 0};
    if (::poll(&p, 1, static_cast<int>(left)) <= 0) continue;
    const ssize_t n = ::recv(fd_, chunk, sizeof(chunk), MSG_DONTWAIT);
    if (n < 0 && (errno == EAGAIN || errno == EINTR)) continue;
    if (n <= 0) {
      answer.closed = true;
      answer.close_how = n == 0 ? "EOF" : ::strerrorname_np(errno);
      answer.closed_after_ms = std::chrono::duration_cast<Millis>(Clock::now() - start).count();
      break;
    }
    if (!speaks_http2) {
      if (answer.unparsed.size() < 128)
        answer.unparsed += hex(std::string_view(chunk, static_cast<std::size_t>(n)));
      continue;
    }
    buffer.append(chunk, static_cast<std::size_t>(n));
    std::vector<Frame> frames;
    speaks_http2 = take_frames(buffer, &frames);
    if (!speaks_http2) answer.unparsed = hex(buffer);
    for (const auto& f : frames) {
      answer.frames.push_back(describe(f, hpack, &answer));
      if (f.type == kSettings && !(f.flags & kAck)) send(frame(kSettings, kAck, 0, ""));
      if (f.type == kPing && !(f.flags & kAck)) send(frame(kPing, kAck, 0, f.payload));
    }
  }
  return answer;
}

std::string describe_frames(std::string_view bytes) {
  std::string buffer(bytes);
  std::vector<Frame> frames;
  const bool http2 = take_frames(buffer, &frames);
  HpackDecoder hpack;
  Answer ignored;
  std::string out;
  for (const auto& f : frames) out += (out.empty() ? "" : "; ") + describe(f, hpack, &ignored);
  if (!http2 || !buffer.empty())
    out += (out.empty() ? "" : "; ") + std::string("non-HTTP/2 bytes ") + hex(buffer);
  return out.empty() ? "nothing" : out;
}

}  // namespace gryphon::test::http2
