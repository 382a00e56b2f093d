// The HTTP/2 side of one native-transport connection: an nghttp2 server session, its streams and
// the connection-level policies gryphon adds (ping strikes, the two-step GOAWAY drain, GOAWAY on
// demand). Bytes in, bytes out, no socket: the Connection around it (connection.h) owns the
// socket and the timers, and a fuzzer can drive a Session with nothing but an io_context.
//
// Everything here runs on the connection's I/O thread; streams reach it from handler threads only
// by posting to that thread.
#pragma once

#include <nghttp2/nghttp2.h>

#include <boost/asio/io_context.hpp>
#include <boost/asio/steady_timer.hpp>
#include <atomic>
#include <chrono>
#include <cstdint>
#include <deque>
#include <functional>
#include <list>
#include <map>
#include <memory>
#include <optional>
#include <string>
#include <vector>

#include "config/config.h"
#include "dispatch/dispatcher.h"
#include "transport/native/token_bucket.h"
#include "transport/native/worker_budget.h"

namespace gryphon::internal::native {

class Stream;

class Session final : public std::enable_shared_from_this<Session> {
 public:
  // What the session tells the connection that carries it (I/O thread).
  struct Hooks {
    std::function<void()> want_write;      // there is output: collect it soon
    std::function<void()> handshake_done;  // the client's preface and SETTINGS arrived
  };
  enum class Input { kOk, kCloseNow, kCloseAfterWrite };

  Session(boost::asio::io_context& io, Dispatcher& dispatcher, const Config& config,
          std::string peer, Hooks hooks);
  ~Session();
  Session(const Session&) = delete;
  Session& operator=(const Session&) = delete;

  // Queues the server's SETTINGS. False if nghttp2 could not be set up (out of memory).
  bool start();
  // Bytes read from the client. kCloseNow: not HTTP/2 at all (nothing worth sending back);
  // kCloseAfterWrite: nghttp2 or a policy queued a GOAWAY that should leave before the close.
  Input receive(const std::uint8_t* data, std::size_t size);
  // Appends what nghttp2 has to send now to `out`, stopping once `out` holds `limit` bytes.
  void take_output(std::string& out, std::size_t limit = SIZE_MAX);
  // Neither side has anything left: the connection should close.
  bool done() const;
  // Graceful drain: GOAWAY(2^31-1) and a PING; the real GOAWAY once the PING is answered (or
  // finish_drain() is called, for a client that never answers).
  void drain();
  void finish_drain();
  bool draining() const { return draining_; }
  // GOAWAY with `code` and `debug` naming the last stream seen; the connection closes once the
  // GOAWAY is written.
  void go_away(std::uint32_t code, const std::string& debug);
  bool going_away() const { return going_away_; }
  // The connection is gone: every stream still open sees itself closed.
  void close();
  std::size_t open_streams() const { return streams_.size(); }
  int running_calls() const { return running_; }
  // When HEADERS or DATA last crossed the connection, either way.
  std::chrono::steady_clock::time_point last_activity() const { return last_activity_; }
  // Whether HEADERS or DATA ever crossed it: false for a connection that only did its handshake.
  bool ever_active() const { return ever_active_; }
  std::size_t unsent() const { return unsent_.load(); }
  // Response bytes nghttp2 has taken from the streams (or that were dropped), ever: progress.
  std::uint64_t taken() const { return taken_; }

  // ---- for Stream (I/O thread)
  boost::asio::io_context& io() { return io_; }
  Dispatcher& dispatcher() { return dispatcher_; }
  const Config& config() const { return config_; }
  const std::string& peer() const { return peer_; }
  nghttp2_session* raw() { return session_; }
  void request_write() {
    if (hooks_.want_write) hooks_.want_write();
  }
  void resume(std::int32_t id);
  void reset(std::int32_t id, std::uint32_t code);
  void credit(std::int32_t id, std::size_t bytes);  // request bytes the handler has taken
  // The worker's budgets (the transport's, shared by its connections; set before start()).
  // Without them (a fuzzer's lone session) only the connection's own budgets apply.
  void share_worker_budgets(WorkerBudgets* worker) { worker_ = worker; }
  // Response bytes framed and not yet taken by nghttp2, over all streams (any thread). Past the
  // budget new calls are parked until the client reads: one connection's memory stays bounded
  // however many streams a client that stops reading opens. A connection that has responses
  // waiting also parks its new calls while the worker's total is over its response budget:
  // clients that do not read cannot add up either, and connections with nothing waiting are
  // never held back.
  void add_unsent(std::size_t bytes) {
    unsent_ += bytes;
    if (worker_ != nullptr) worker_->responses.add(bytes);
  }
  void remove_unsent(std::size_t bytes);  // I/O thread
  bool over_budget() const {
    const std::size_t unsent = unsent_.load();
    return unsent > budget_ || (unsent > 0 && worker_ != nullptr && worker_->responses.over());
  }
  void park(std::shared_ptr<Stream> stream);  // I/O thread

  // Request bytes buffered over all streams (partial and whole messages, inflated sizes). Past
  // the connection's request budget, or while it holds some and the worker is over its request
  // budget, the connection window is not reopened and no more messages are inflated until
  // handlers take theirs: one client's memory stays bounded however many streams it fills, and
  // many clients' together. Streams stalled on it are woken once there is room (I/O thread).
  void change_request_bytes(std::int64_t delta);
  bool over_request_budget() const {
    return request_bytes_ >= request_budget_ ||
           (request_bytes_ > 0 && worker_ != nullptr && worker_->requests.over());
  }
  void stall(std::shared_ptr<Stream> stream);
  // --first-message-timeout for a stream whose headers just ended. A call that starts within the
  // same read (most do) costs nothing more; the others wait in a list in arrival order (every
  // entry has the same timeout) under one timer per session, and leave it when they start or end.
  using AwaitingFirst =
      std::list<std::pair<std::chrono::steady_clock::time_point, std::weak_ptr<Stream>>>;
  void watch_first_message(std::shared_ptr<Stream> stream);
  void forget_first_message(std::optional<AwaitingFirst::iterator>& entry);

  // Calls running on this connection (started, not finished) against --max-rpcs-per-connection.
  bool may_start_call() const {
    return config_.max_rpcs_per_connection == 0 || running_ < config_.max_rpcs_per_connection;
  }
  void call_started() { ++running_; }
  void call_ended() { --running_; }

 private:
  static int on_begin_headers(nghttp2_session*, const nghttp2_frame* frame, void* user);
  static int on_header(nghttp2_session*, const nghttp2_frame* frame, const std::uint8_t* name,
                       std::size_t namelen, const std::uint8_t* value, std::size_t valuelen,
                       std::uint8_t, void* user);
  static int on_frame_recv(nghttp2_session*, const nghttp2_frame* frame, void* user);
  static int on_frame_send(nghttp2_session*, const nghttp2_frame* frame, void* user);
  static int on_data_chunk(nghttp2_session*, std::uint8_t, std::int32_t id,
                           const std::uint8_t* data, std::size_t len, void* user);
  static int on_stream_close(nghttp2_session*, std::int32_t id, std::uint32_t error_code,
                             void* user);
  Stream* find(std::int32_t id);
  void on_ping(bool ack);
  void schedule_unpark();
  void unpark();
  void request_room();
  void credit_connection();
  // Over a worker budget (not the connection's own): wake up when another connection frees it.
  void await_worker_responses();
  void await_worker_requests();
  // Once, until woken: `then` on this loop when `budget` is under its limit again (`awaiting`
  // is the session's flag for that budget).
  void await_worker(WorkerBudget& budget, bool& awaiting, void (Session::*then)());
  void arm_first_message_timer();
  void on_first_message_timer();
  void on_reset_sent();

  boost::asio::io_context& io_;
  Dispatcher& dispatcher_;
  const Config& config_;
  std::string peer_;
  Hooks hooks_;
  nghttp2_session* session_ = nullptr;
  std::map<std::int32_t, std::shared_ptr<Stream>> streams_;
  std::atomic<std::size_t> unsent_{0};
  std::uint64_t taken_ = 0;
  const std::size_t budget_;
  WorkerBudgets* worker_ = nullptr;
  bool awaiting_worker_responses_ = false;
  bool awaiting_worker_requests_ = false;
  std::deque<std::weak_ptr<Stream>> parked_;
  bool unpark_scheduled_ = false;
  std::size_t request_bytes_ = 0;
  const std::size_t request_budget_;
  std::size_t connection_uncredited_ = 0;  // connection-window bytes not yet given back
  std::deque<std::weak_ptr<Stream>> stalled_;
  std::vector<std::shared_ptr<Stream>> opened_;  // headers ended during this receive()
  AwaitingFirst awaiting_first_;
  boost::asio::steady_timer first_message_timer_;
  bool first_message_timer_armed_ = false;
  bool unstall_scheduled_ = false;
  int running_ = 0;
  // HEADERS or DATA crossed during the current batch of input or output: the clock is read once
  // per batch, not per frame.
  bool active_ = false;
  bool ever_active_ = false;
  std::chrono::steady_clock::time_point last_activity_ = std::chrono::steady_clock::now();
  void note_activity() {
    if (!active_) return;
    active_ = false;
    ever_active_ = true;
    last_activity_ = std::chrono::steady_clock::now();
  }
  // Resets this server sends, as a token bucket (MadeYouReset, CVE-2025-8671: a client can make
  // nghttp2 reset streams it opened, which nghttp2's own limit on received resets does not see).
  TokenBucket resets_sent_;
  // --max-call-rate-per-connection: calls (request HEADERS) this client may start, when set.
  std::optional<TokenBucket> calls_started_;
  bool handshake_done_ = false;
  bool draining_ = false;
  bool drain_finished_ = false;
  bool going_away_ = false;
  // Ping policy (gRPC's keepalive enforcement): a PING sooner than keepalive-min-interval after
  // the previous one, with no response data sent in between, is a strike; the third strike gets
  // GOAWAY ENHANCE_YOUR_CALM "too_many_pings".
  std::optional<std::chrono::steady_clock::time_point> last_ping_;
  int ping_strikes_ = 0;
};

}  // namespace gryphon::internal::native
