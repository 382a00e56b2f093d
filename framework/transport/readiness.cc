#include "transport/readiness.h"

#include <nghttp2/nghttp2.h>
#include <poll.h>
#include <sys/socket.h>
#include <unistd.h>

#include <cerrno>
#include <cstring>
#include <vector>

#include "dispatch/health_service.h"
#include "transport/native/grpc_wire.h"

namespace gryphon::internal {
namespace {

constexpr char kCheckPath[] = "/grpc.health.v1.Health/Check";

// One Check over HTTP/2, as an nghttp2 client session sees it.
struct Probe {
  std::string request;  // the gRPC message, length-prefixed
  std::size_t request_sent = 0;
  std::int32_t stream = -1;
  std::string response;  // DATA of the call: the length-prefixed answer
  std::string grpc_status, grpc_message;
  bool closed = false;
  std::uint32_t close_code = 0;
};

Probe& of(void* user) {
  return *static_cast<Probe*>(user);
}

int on_header(nghttp2_session*, const nghttp2_frame* frame, const std::uint8_t* name,
              std::size_t namelen, const std::uint8_t* value, std::size_t valuelen, std::uint8_t,
              void* user) {
  Probe& probe = of(user);
  if (frame->hd.stream_id != probe.stream) return 0;
  const std::string_view key(reinterpret_cast<const char*>(name), namelen);
  const std::string text(reinterpret_cast<const char*>(value), valuelen);
  if (key == "grpc-status") probe.grpc_status = text;
  if (key == "grpc-message") probe.grpc_message = text;
  return 0;
}

int on_data(nghttp2_session*, std::uint8_t, std::int32_t id, const std::uint8_t* data,
            std::size_t len, void* user) {
  Probe& probe = of(user);
  if (id == probe.stream && probe.response.size() < 1024)
    probe.response.append(reinterpret_cast<const char*>(data), len);
  return 0;
}

int on_close(nghttp2_session*, std::int32_t id, std::uint32_t code, void* user) {
  Probe& probe = of(user);
  if (id == probe.stream) {
    probe.closed = true;
    probe.close_code = code;
  }
  return 0;
}

ssize_t read_request(nghttp2_session*, std::int32_t, std::uint8_t* buf, std::size_t length,
                     std::uint32_t* flags, nghttp2_data_source* source, void*) {
  Probe& probe = of(source->ptr);
  const std::size_t n = std::min(length, probe.request.size() - probe.request_sent);
  std::memcpy(buf, probe.request.data() + probe.request_sent, n);
  probe.request_sent += n;
  if (probe.request_sent == probe.request.size()) *flags |= NGHTTP2_DATA_FLAG_EOF;
  return static_cast<ssize_t>(n);
}

// The client session, freed however the check ends.
struct Client {
  nghttp2_session* session = nullptr;
  ~Client() { nghttp2_session_del(session); }
};

// Talks over `fd` until the call has closed or `deadline` passes.
bool converse(int fd, nghttp2_session* session, const Probe& probe,
              std::chrono::steady_clock::time_point deadline, std::string* error) {
  std::string pending;
  std::vector<std::uint8_t> buffer(16384);
  while (!probe.closed) {
    for (;;) {
      const std::uint8_t* data = nullptr;
      const ssize_t n = nghttp2_session_mem_send(session, &data);
      if (n <= 0) break;
      pending.append(reinterpret_cast<const char*>(data), static_cast<std::size_t>(n));
    }
    while (!pending.empty()) {
      const ssize_t n = ::send(fd, pending.data(), pending.size(), MSG_NOSIGNAL);
      if (n > 0) {
        pending.erase(0, static_cast<std::size_t>(n));
      } else if (n < 0 && (errno == EPIPE || errno == ECONNRESET)) {
        *error = "readiness check: the transport closed the connection before answering";
        return false;
      } else if (n < 0 && errno != EAGAIN && errno != EINTR) {
        *error = std::string("readiness check: sending failed: ") + std::strerror(errno);
        return false;
      } else {
        break;
      }
    }
    const auto left =
        std::chrono::ceil<std::chrono::milliseconds>(deadline - std::chrono::steady_clock::now());
    if (left.count() <= 0) {
      *error = "readiness health check got no answer in time";
      return false;
    }
    pollfd watch{fd, static_cast<short>(POLLIN | (pending.empty() ? 0 : POLLOUT)), 0};
    if (::poll(&watch, 1, static_cast<int>(left.count())) < 0 && errno != EINTR) {
      *error = std::string("readiness check: poll failed: ") + std::strerror(errno);
      return false;
    }
    if (!(watch.revents & (POLLIN | POLLHUP | POLLERR))) continue;
    const ssize_t n = ::recv(fd, buffer.data(), buffer.size(), 0);
    if (n == 0 || (n < 0 && errno != EAGAIN && errno != EINTR)) {
      *error = "readiness check: the transport closed the connection before answering";
      return false;
    }
    if (n > 0 &&
        nghttp2_session_mem_recv(session, buffer.data(), static_cast<std::size_t>(n)) < 0) {
      *error = "readiness check: the transport's answer was not valid HTTP/2";
      return false;
    }
  }
  return true;
}

}  // namespace

bool make_readiness_pair(int fds[2], std::string* error) {
  if (::socketpair(AF_UNIX, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0, fds) == 0) return true;
  *error = std::string("socketpair for the readiness check failed: ") + std::strerror(errno);
  return false;
}

bool health_check_over(int client_fd, std::chrono::milliseconds timeout, std::string* error) {
  const auto deadline = std::chrono::steady_clock::now() + timeout;
  struct Closer {
    int fd;
    ~Closer() { ::close(fd); }
  } closer{client_fd};
  Probe probe;
  frame_message(HealthService::encode_request(""), Compression::kNone, &probe.request);

  nghttp2_session_callbacks* callbacks = nullptr;
  if (nghttp2_session_callbacks_new(&callbacks) != 0) {
    *error = "readiness check: out of memory";
    return false;
  }
  nghttp2_session_callbacks_set_on_header_callback(callbacks, on_header);
  nghttp2_session_callbacks_set_on_data_chunk_recv_callback(callbacks, on_data);
  nghttp2_session_callbacks_set_on_stream_close_callback(callbacks, on_close);
  Client client;
  const int created = nghttp2_session_client_new(&client.session, callbacks, &probe);
  nghttp2_session_callbacks_del(callbacks);
  if (created != 0) {
    *error = "readiness check: out of memory";
    return false;
  }
  nghttp2_submit_settings(client.session, NGHTTP2_FLAG_NONE, nullptr, 0);
  const auto nv = [](std::string_view name, std::string_view value) {
    return nghttp2_nv{reinterpret_cast<std::uint8_t*>(const_cast<char*>(name.data())),
                      reinterpret_cast<std::uint8_t*>(const_cast<char*>(value.data())), name.size(),
                      value.size(), NGHTTP2_NV_FLAG_NONE};
  };
  const nghttp2_nv headers[] = {nv(":method", "POST"),
                                nv(":scheme", "http"),
                                nv(":path", kCheckPath),
                                nv(":authority", "gryphon-readiness"),
                                nv("content-type", "application/grpc"),
                                nv("te", "trailers"),
                                nv("user-agent", "gryphon-readiness")};
  nghttp2_data_provider body;
  body.source.ptr = &probe;
  body.read_callback = read_request;
  probe.stream =
      nghttp2_submit_request(client.session, nullptr, headers, std::size(headers), &body, nullptr);
  if (probe.stream < 0) {
    *error = std::string("readiness check: ") + nghttp2_strerror(probe.stream);
    return false;
  }
  if (!converse(client_fd, client.session, probe, deadline, error)) return false;
  if (probe.grpc_status != "0") {
    *error =
        "readiness health check failed: " +
        (probe.grpc_status.empty() ? "the stream ended with no status (HTTP/2 code " +
                                         std::to_string(probe.close_code) + ")"
                                   : "grpc-status " + probe.grpc_status + " " + probe.grpc_message);
    return false;
  }
  std::string answer;
  const FrameResult taken = take_message(probe.response, 1024, "", &answer);
  if (!taken.complete || HealthService::parse_response(answer) != HealthService::Status::kServing) {
    *error = "readiness health check did not answer SERVING";
    return false;
  }
  return true;
}

}  // namespace gryphon::internal
