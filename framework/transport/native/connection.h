// One accepted socket of the native transport: plaintext or TLS bytes in and out, the HTTP/2
// Session they feed, and the connection's timers — handshake timeout, idle timeout (no HEADERS or
// DATA either way and no call running), max connection age (then its grace), the drain's PING
// deadline, the write-progress deadline (--write-timeout) and the hard close once a GOAWAY that
// ends the connection is queued. A connection that ends normally lingers: FIN after its last
// bytes, then it reads and drops the client's until the client closes too (at most kLinger), so
// the kernel never answers unread input with a RST that could destroy what was sent last.
//
// Everything runs on the I/O thread that owns the connection. Output is coalesced: whatever the
// session produces while the loop runs the handlers queued before the flush leaves in one write.
#pragma once

#include <boost/asio/io_context.hpp>
#include <boost/asio/posix/stream_descriptor.hpp>
#include <boost/asio/ssl.hpp>
#include <boost/asio/steady_timer.hpp>
#include <functional>
#include <utility>
#include <memory>
#include <string>

#include "config/config.h"
#include "dispatch/dispatcher.h"
#include "transport/native/session.h"

namespace gryphon::internal::native {

// The bytes under the session: a plain socket, or TLS over it.
class Socket {
 public:
  using Handler = std::function<void(const boost::system::error_code&, std::size_t)>;
  // The bytes read: valid only during the call (a plain socket reads into its loop's buffer).
  using ReadHandler =
      std::function<void(const boost::system::error_code&, const std::uint8_t* data, std::size_t)>;
  virtual ~Socket() = default;
  // Completes at once for plaintext; the TLS handshake (with ALPN h2) for TLS.
  virtual void handshake(std::function<void(const boost::system::error_code&)> done) = 0;
  // Some bytes, when there are some. An idle plaintext connection holds no read buffer: it waits
  // for readability and reads into a buffer its thread shares with its other connections.
  virtual void read_some(ReadHandler done) = 0;
  virtual void write_all(boost::asio::const_buffer buffer, Handler done) = 0;
  // The FIN after the last bytes written (no TLS close_notify: the GOAWAY said goodbye); reads
  // go on.
  virtual void shutdown_send() = 0;
  virtual void close() = 0;
};

std::unique_ptr<Socket> make_plain_socket(boost::asio::io_context& io, int fd);
std::unique_ptr<Socket> make_tls_socket(boost::asio::io_context& io, int fd,
                                        boost::asio::ssl::context& tls);

// "ipv4:127.0.0.1:53422", "ipv6:[::1]:4000" or "unix:", as gRPC names peers.
std::string describe_peer(int fd);

class Connection final : public std::enable_shared_from_this<Connection> {
 public:
  // `worker`: the worker's budgets, shared by its connections.
  Connection(boost::asio::io_context& io, std::unique_ptr<Socket> socket, Dispatcher& dispatcher,
             const Config& config, std::string peer, WorkerBudgets* worker = nullptr);

  // Called once, when the connection closes (on its I/O thread).
  void set_on_close(std::function<void()> on_close) { on_close_ = std::move(on_close); }
  void start();
  void drain();  // the slot drains: the two-step GOAWAY
  void close();  // now: every stream still open ends
  // No stream open: closing it loses nothing.
  bool idle() const { return !closed_ && (lingering_ || session_->open_streams() == 0); }
  // Which idle connection a full worker closes first: one that never carried a call, the oldest
  // of those, before one that did, the one quiet the longest of those. Smaller is closed first.
  std::pair<bool, std::chrono::steady_clock::time_point> eviction_order() const {
    return {session_->ever_active(), session_->last_activity()};
  }
  // GOAWAY NO_ERROR and the close right after it: room for a new connection.
  void evict();

 private:
  void on_handshake();
  void read_more();
  void finish();  // all said: the FIN, then what the client still sends is dropped (lingering)
  void schedule_flush();
  void flush();
  void arm(boost::asio::steady_timer& timer, Duration after, void (Connection::*then)());
  // Cancels every timer but the linger's close_timer_.
  void cancel_timers();
  void on_handshake_timeout();
  void on_idle();
  void on_age();
  void on_drain_deadline();
  void watch_writes();
  void on_write_check();
  void arm_write_check();  // the next look, a quarter of --write-timeout from now

  boost::asio::io_context& io_;
  std::unique_ptr<Socket> socket_;
  const Config& config_;
  std::shared_ptr<Session> session_;
  std::function<void()> on_close_;
  boost::asio::steady_timer handshake_timer_, idle_timer_, age_timer_, drain_timer_, write_timer_,
      close_timer_;
  // Write progress: when the socket write under way started, and when response bytes last left
  // the streams (or there were none waiting).
  std::chrono::steady_clock::time_point write_started_, responses_moved_;
  std::uint64_t taken_at_check_ = 0;
  bool write_watched_ = false;
  bool close_armed_ = false;
  std::string write_buffer_;
  bool writing_ = false;
  bool flush_scheduled_ = false;
  bool close_after_write_ = false;
  bool reading_ = false;    // a read is under way
  bool lingering_ = false;  // finish() ran: the session is over, the socket not yet closed
  bool linger_ = true;      // false for an evicted connection: its descriptor is wanted now
  bool closed_ = false;
};

}  // namespace gryphon::internal::native
