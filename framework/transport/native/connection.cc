#include "transport/native/connection.h"

#include <arpa/inet.h>
#include <netinet/in.h>
#include <sys/socket.h>
#include <unistd.h>

#include <array>
#include <boost/asio/post.hpp>
#include <boost/asio/write.hpp>
#include <random>
#include <type_traits>

#include "observability/logging.h"

namespace gryphon::internal::native {
namespace {

constexpr std::size_t kReadChunk = 16384;
// One socket write takes at most this much (more waits in nghttp2 for the next): a write that
// does not complete within --write-timeout then means a client below ~35 KB/s, not a large burst.
constexpr std::size_t kWriteChunk = 1 << 20;

// A draining connection whose client never answers the drain's PING gets the real GOAWAY anyway.
constexpr Duration kDrainPingDeadline{1000};
// Once a GOAWAY that ends the connection is queued, the close waits this long at most for it to
// leave (a client that stops reading would keep it forever).
constexpr Duration kCloseAfterGoaway{1000};
// After the FIN, how long the client's remaining bytes are read and dropped before the close
// (closing with input unread sends RST instead of FIN).
constexpr Duration kLinger{1000};

using PlainStream = boost::asio::posix::stream_descriptor;
using TlsStream = boost::asio::ssl::stream<PlainStream>;

// A Socket over an Asio stream: a plain descriptor, or TLS on one.
template <typename AsioStream>
class AsioSocket final : public Socket {
 public:
  explicit AsioSocket(AsioStream stream) : stream_(std::move(stream)) {}
  void handshake(std::function<void(const boost::system::error_code&)> done) override {
    if constexpr (std::is_same_v<AsioStream, TlsStream>)
      stream_.async_handshake(boost::asio::ssl::stream_base::server, std::move(done));
    else
      done({});
  }
  void read_some(ReadHandler done) override {
    if constexpr (std::is_same_v<AsioStream, TlsStream>) {
      // Asio's TLS stream decrypts into the buffer before the handler is queued, so the buffer
      // must be the connection's own.
      if (!buffer_) buffer_ = std::make_unique<std::uint8_t[]>(kReadChunk);
      stream_.async_read_some(
          boost::asio::buffer(buffer_.get(), kReadChunk),
          [this, done = std::move(done)](const boost::system::error_code& ec, std::size_t n) {
            done(ec, buffer_.get(), n);
          });
    } else {
      stream_.async_wait(PlainStream::wait_read,
                         [this, done = std::move(done)](const boost::system::error_code& ec) {
                           if (ec) return done(ec, nullptr, 0);
                           read_now(done);
                         });
    }
  }
  void write_all(boost::asio::const_buffer buffer, Handler done) override {
    boost::asio::async_write(stream_, buffer, std::move(done));
  }
  void shutdown_send() override { ::shutdown(native_handle(), SHUT_WR); }
  void close() override {
    boost::system::error_code ignored;
    // No TLS close_notify: the GOAWAY already said goodbye.
    if constexpr (std::is_same_v<AsioStream, TlsStream>)
      stream_.next_layer().close(ignored);
    else
      stream_.close(ignored);
  }

 private:
  // Reads what is there into the thread's buffer and hands it on before anything else can
  // overwrite it; a spurious wake-up waits again.
  void read_now(const ReadHandler& done) {
    thread_local std::array<std::uint8_t, kReadChunk> buffer;
    const ssize_t n = ::read(stream_.native_handle(), buffer.data(), buffer.size());
    if (n > 0) return done({}, buffer.data(), static_cast<std::size_t>(n));
    if (n == 0) return done(boost::asio::error::eof, nullptr, 0);
    if (errno == EAGAIN || errno == EWOULDBLOCK || errno == EINTR) return read_some(done);
    done(boost::system::error_code(errno, boost::system::system_category()), nullptr, 0);
  }

  int native_handle() {
    if constexpr (std::is_same_v<AsioStream, TlsStream>)
      return stream_.next_layer().native_handle();
    else
      return stream_.native_handle();
  }

  AsioStream stream_;
  std::unique_ptr<std::uint8_t[]> buffer_;  // TLS only, from the first read
};

Duration jittered(Duration age) {
  // ±10%, as gRPC does, so connections opened together do not all leave together.
  thread_local std::mt19937 random{std::random_device{}()};
  std::uniform_real_distribution<double> factor(0.9, 1.1);
  return Duration(static_cast<Duration::rep>(static_cast<double>(age.count()) * factor(random)));
}

}  // namespace

std::unique_ptr<Socket> make_plain_socket(boost::asio::io_context& io, int fd) {
  return std::make_unique<AsioSocket<PlainStream>>(PlainStream(io, fd));
}

std::unique_ptr<Socket> make_tls_socket(boost::asio::io_context& io, int fd,
                                        boost::asio::ssl::context& tls) {
  return std::make_unique<AsioSocket<TlsStream>>(TlsStream(PlainStream(io, fd), tls));
}

std::string describe_peer(int fd) {
  sockaddr_storage address{};
  socklen_t length = sizeof(address);
  if (::getpeername(fd, reinterpret_cast<sockaddr*>(&address), &length) != 0) return "unknown";
  char text[INET6_ADDRSTRLEN] = {};
  if (address.ss_family == AF_INET) {
    const auto* in = reinterpret_cast<const sockaddr_in*>(&address);
    ::inet_ntop(AF_INET, &in->sin_addr, text, sizeof(text));
    return "ipv4:" + std::string(text) + ":" + std::to_string(ntohs(in->sin_port));
  }
  if (address.ss_family == AF_INET6) {
    const auto* in = reinterpret_cast<const sockaddr_in6*>(&address);
    ::inet_ntop(AF_INET6, &in->sin6_addr, text, sizeof(text));
    return "ipv6:[" + std::string(text) + "]:" + std::to_string(ntohs(in->sin6_port));
  }
  return "unix:";
}

Connection::Connection(boost::asio::io_context& io, std::unique_ptr<Socket> socket,
                       Dispatcher& dispatcher, const Config& config, std::string peer,
                       WorkerBudgets* worker)
    : io_(io),
      socket_(std::move(socket)),
      config_(config),
      handshake_timer_(io),
      idle_timer_(io),
      age_timer_(io),
      drain_timer_(io),
      write_timer_(io),
      close_timer_(io) {
  Session::Hooks hooks;  // cleared by Session::close(): a handler may hold the session longer
  hooks.want_write = [this] { schedule_flush(); };
  hooks.handshake_done = [this] { handshake_timer_.cancel(); };
  session_ = std::make_shared<Session>(io, dispatcher, config, std::move(peer), std::move(hooks));
  session_->share_worker_budgets(worker);
}

void Connection::start() {
  arm(handshake_timer_, config_.handshake_timeout, &Connection::on_handshake_timeout);
  if (config_.idle_timeout.count() > 0)
    arm(idle_timer_, config_.idle_timeout, &Connection::on_idle);
  if (config_.max_connection_age.count() > 0)
    arm(age_timer_, jittered(config_.max_connection_age), &Connection::on_age);
  socket_->handshake([self = shared_from_this()](const boost::system::error_code& ec) {
    if (self->closed_) return;
    if (ec) {
      log::process()->debug("TLS handshake with {} failed: {}", self->session_->peer(),
                            ec.message());
      self->close();
      return;
    }
    self->on_handshake();
  });
}

void Connection::on_handshake() {
  if (!session_->start()) {
    log::process()->error("nghttp2 could not start a session (out of memory?); closing {}",
                          session_->peer());
    close();
    return;
  }
  flush();
  read_more();
}

void Connection::arm(boost::asio::steady_timer& timer, Duration after, void (Connection::*then)()) {
  timer.expires_after(after);
  timer.async_wait([weak = weak_from_this(), then](const boost::system::error_code& ec) {
    auto self = weak.lock();
    if (ec || !self || self->closed_) return;
    ((*self).*then)();
  });
}

void Connection::read_more() {
  reading_ = true;
  socket_->read_some([self = shared_from_this()](const boost::system::error_code& ec,
                                                 const std::uint8_t* data, std::size_t n) {
    self->reading_ = false;
    if (self->closed_) return;
    if (ec) {
      self->close();  // the client closed too (or failed): nothing is left to lose
      return;
    }
    if (self->lingering_) return self->read_more();  // dropped: the session is over
    switch (self->session_->receive(data, n)) {
      case Session::Input::kCloseNow: self->close(); return;
      case Session::Input::kCloseAfterWrite:
        self->close_after_write_ = true;
        self->flush();
        // What the client sends now is not read into the session; finish() drops it.
        return;
      case Session::Input::kOk: break;
    }
    self->flush();
    if (!self->closed_ && !self->reading_) self->read_more();
  });
}

void Connection::schedule_flush() {
  if (flush_scheduled_ || closed_) return;
  flush_scheduled_ = true;
  // After the handlers already queued on this loop: their output joins the same write.
  boost::asio::post(io_, [self = shared_from_this()] {
    self->flush_scheduled_ = false;
    self->flush();
  });
}

void Connection::flush() {
  if (writing_ || closed_ || lingering_) return;
  write_buffer_.clear();
  session_->take_output(write_buffer_, kWriteChunk);
  if (session_->going_away() || close_after_write_) {
    close_after_write_ = true;
    if (!close_armed_) {
      close_armed_ = true;
      arm(close_timer_, kCloseAfterGoaway, &Connection::close);
    }
  }
  if (write_buffer_.empty()) {
    if (close_after_write_ || session_->done()) return finish();
    if (session_->unsent() > 0) watch_writes();  // responses wait for the client's window
    return;
  }
  writing_ = true;
  write_started_ = std::chrono::steady_clock::now();
  watch_writes();
  socket_->write_all(boost::asio::buffer(write_buffer_),
                     [self = shared_from_this()](const boost::system::error_code& ec, std::size_t) {
                       self->writing_ = false;
                       if (ec) {
                         self->close();
                         return;
                       }
                       self->flush();
                     });
}

// Output that makes no progress for --write-timeout ends the connection: a socket write that
// does not complete (the client stopped reading), or responses that wait for a flow-control
// window the client never opens (PINGs and other frames still leaving do not count as progress).
// Checked four times per timeout while anything waits.
void Connection::watch_writes() {
  if (write_watched_ || config_.write_timeout.count() == 0) return;
  responses_moved_ = std::chrono::steady_clock::now();
  taken_at_check_ = session_->taken();
  arm_write_check();
}

void Connection::arm_write_check() {
  write_watched_ = true;
  arm(write_timer_, std::max(Duration(100), config_.write_timeout / 4),
      &Connection::on_write_check);
}

void Connection::on_write_check() {
  const auto now = std::chrono::steady_clock::now();
  const auto seconds = std::chrono::duration<double>(config_.write_timeout).count();
  if (writing_ && now - write_started_ >= config_.write_timeout) {
    // The socket takes nothing: a GOAWAY could not leave either.
    log::process()->info("closing {}: a write did not complete in {}s (--write-timeout)",
                         session_->peer(), seconds);
    return close();
  }
  if (session_->taken() != taken_at_check_ || session_->unsent() == 0) {
    taken_at_check_ = session_->taken();
    responses_moved_ = now;
  } else if (now - responses_moved_ >= config_.write_timeout) {
    log::process()->info(
        "closing {}: {} response bytes waited {}s for the client's flow-control "
        "window (--write-timeout)",
        session_->peer(), session_->unsent(), seconds);
    session_->go_away(NGHTTP2_ENHANCE_YOUR_CALM, "write timeout");
    flush();
  }
  write_watched_ = false;
  if (!closed_ && (writing_ || session_->unsent() != 0)) arm_write_check();
}

void Connection::on_handshake_timeout() {
  log::process()->debug("closing {}: no HTTP/2 handshake within --handshake-timeout",
                        session_->peer());
  close();
}

void Connection::on_idle() {
  // Idle: no HEADERS or DATA either way for --idle-timeout and no call running. Streams that are
  // open but silent do not keep a connection: their own timers (first message, stream idle) end
  // them.
  const auto quiet = std::chrono::steady_clock::now() - session_->last_activity();
  if (session_->running_calls() > 0)
    return arm(idle_timer_, config_.idle_timeout, &Connection::on_idle);
  if (quiet < config_.idle_timeout) {
    const auto left = std::chrono::duration_cast<Duration>(config_.idle_timeout - quiet);
    return arm(idle_timer_, std::max(left, Duration(10)), &Connection::on_idle);
  }
  session_->go_away(NGHTTP2_NO_ERROR, "idle timeout");
  flush();
}

void Connection::on_age() {
  drain();
  if (config_.max_connection_age_grace.count() > 0)
    arm(age_timer_, config_.max_connection_age_grace, &Connection::close);
}

void Connection::drain() {
  if (closed_ || lingering_ || session_->draining()) return;
  session_->drain();
  arm(drain_timer_, kDrainPingDeadline, &Connection::on_drain_deadline);
}

void Connection::evict() {
  // Still in its handshake, or already over: nothing to say.
  if (session_->raw() == nullptr || lingering_) return close();
  linger_ = false;  // the point is the descriptor: closed as soon as the GOAWAY is out
  session_->go_away(NGHTTP2_NO_ERROR, "connection limit");
  flush();  // the GOAWAY leaves, then the close (at most kCloseAfterGoaway later)
}

void Connection::on_drain_deadline() {
  session_->finish_drain();
}

void Connection::cancel_timers() {
  for (auto* timer : {&handshake_timer_, &idle_timer_, &age_timer_, &drain_timer_, &write_timer_})
    timer->cancel();
}

void Connection::finish() {
  if (!linger_) return close();
  if (closed_ || lingering_) return;
  lingering_ = true;
  cancel_timers();
  session_->close();
  socket_->shutdown_send();
  arm(close_timer_, kLinger, &Connection::close);
  if (!reading_) read_more();
}

void Connection::close() {
  if (closed_) return;
  closed_ = true;
  cancel_timers();
  close_timer_.cancel();
  session_->close();
  socket_->close();
  if (on_close_) on_close_();
}

}  // namespace gryphon::internal::native
