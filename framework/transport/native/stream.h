// One gRPC call on one HTTP/2 stream of the native transport.
//
// The request side is filled by the I/O thread from nghttp2's callbacks (headers, message bytes,
// end of stream, reset). A call starts — is admitted and given its handler — only once it has
// work: a unary call at the end of its request, a streaming call at its first message or the end
// of its request; until then it costs no slot and no thread, and --first-message-timeout bounds
// the wait. The handler — inline on the I/O thread for inline unary methods, else on the
// dispatcher's pool — reads and writes through the blocking RawStream methods, which hand work to
// the I/O thread and wait for it (a read at most --stream-idle-timeout). An async handler's
// coroutine runs on the I/O thread itself and goes through the AsyncRawStream poll functions,
// which never wait: notify() wakes it where it would wake a blocked thread.
//
// Memory is bounded both ways: messages are split off (and inflated) only while the stream's inbox
// and the connection's request budget have room, request bytes are credited back to the client's
// flow-control window only as the handler takes messages, and a write waits until nghttp2 has
// taken the bytes before the next one is framed.
#pragma once

#include <boost/asio/steady_timer.hpp>
#include <atomic>
#include <condition_variable>
#include <cstdint>
#include <deque>
#include <functional>
#include <map>
#include <memory>
#include <mutex>
#include <optional>
#include <string>
#include <utility>
#include <vector>

#include <grpcpp/support/status.h>

#include "dispatch/dispatcher.h"
#include "transport/native/session.h"
#include "gryphon/detail/async_stream.h"
#include "gryphon/detail/server_call.h"
#include "gryphon/handler.h"

namespace gryphon::internal::native {

class Stream final : public detail::ServerCall,
                     public RawStream,
                     public detail::AsyncRawStream,
                     public std::enable_shared_from_this<Stream> {
 public:
  Stream(std::shared_ptr<Session> session, std::int32_t id);

  // ---- ServerCall (handler thread)
  const std::string& peer() override;
  std::optional<std::string_view> find_metadata(std::string_view key) const override;
  std::vector<std::string_view> metadata_values(std::string_view key) const override;
  std::chrono::system_clock::time_point deadline() const override { return deadline_; }
  bool cancelled() const override { return cancelled_.load(); }
  bool request_compressed() const override { return last_compressed_.load(); }
  void add_initial_metadata(const std::string& key, const std::string& value) override;
  void add_trailing_metadata(const std::string& key, const std::string& value) override;
  void set_compression(Compression algorithm) override;
  std::optional<grpc::Status> ended_by_transport() const override {
    std::lock_guard lock(mutex_);
    return write_error_;
  }

  // ---- RawStream (handler thread)
  bool read(std::string& message) override;
  bool write(std::string_view message, const WriteOptions& options) override;
  bool send_initial_metadata() override;

  // ---- AsyncRawStream (an async handler's call: I/O thread, never inside nghttp2)
  Poll poll_read(std::string& message) override;
  Poll poll_write(std::string_view message, const WriteOptions& options) override;
  Poll poll_send_initial_metadata() override;
  Poll poll_flushed() override;
  void on_wake(std::function<void()> wake) override { wake_ = std::move(wake); }
  std::uint64_t write_progress() const override { return progress_; }
  Limits limits() const override {
    return {session_->config().stream_idle_timeout, session_->config().stream_write_timeout};
  }
  void read_timed_out() override;
  void write_timed_out() override;

  // ---- I/O thread, from the session's nghttp2 callbacks
  std::int32_t id() const { return id_; }
  void on_header(std::string_view name, std::string_view value);
  void on_headers_end();  // the request headers are complete: validate and start the call
  void on_data(const std::uint8_t* data, std::size_t size);
  void on_end_of_request();
  void take_messages();  // splits whole messages off pending_ while there is room
  // --first-message-timeout passed (Session::watch_first_message): fails the call unless started.
  void on_first_message_timeout();
  bool waits_for_first_message() const { return !started_ && !request_failed_ && !closed(); }
  // The worker is far over its request budget (`limit`): a stream that holds request bytes and
  // has no call running to take them drops them and fails RESOURCE_EXHAUSTED.
  void shed(std::size_t limit);
  // The session's budget has room again (Session::unstall / unpark), I/O thread.
  void unstall() {
    stalled_ = false;
    take_messages();
  }
  void unparked() {
    parked_ = false;
    start_call();
  }
  std::optional<Session::AwaitingFirst::iterator> awaiting_first;  // Session's, I/O thread
  void on_closed();
  // nghttp2 asks for response bytes (the data provider of the response).
  ssize_t read_response(std::uint8_t* buffer, std::size_t length, std::uint32_t* flags);
  // The response's last frame left while the client was still sending: ask it to stop.
  bool request_open() const { return !request_ended_seen_; }

  // The call's outcome, from the handler side (any thread).
  void finish(const grpc::Status& status);
  // Starts the handler of a call whose request is complete (or a streaming call), unless the
  // connection is over its response budget: then the session parks it and calls this again later.
  void start_call();
  bool closed() const {
    std::lock_guard lock(mutex_);
    return closed_;
  }

 private:
  // Request bytes a stream may hold before the handler reads them; past it the client's window
  // is not reopened, nor the next message inflated, until it does. Each message also counts
  // kMessageCost, so that empty messages cannot pile up uncounted.
  static constexpr std::size_t kStreamInboxLimit = 1 << 20;
  static constexpr std::size_t kMessageCost = 64;

  bool accepts(Compression algorithm) const;
  void serve_unary(Admission admission, std::string request);
  // The response of a unary call whose handler answered: the message with the status.
  void answer_unary(grpc::Status status, std::string& response);
  void requeue(std::string request);  // back to the session's parked calls
  void fail_request(const grpc::Status& status);
  // Tells the session how many request bytes this stream holds (held_locked(): under mutex_).
  void account();
  void account(std::size_t held);
  std::size_t held_locked() const { return closed_ ? 0 : pending_.size() + inbox_bytes_; }
  void end_request_if_taken();  // the request ended and every message is in the inbox
  bool over_locked() const { return finished_ || closed_; }
  void answer_http(const char* status);  // not gRPC: an HTTP status and nothing else
  void submit_headers_locked(bool trailers_only);
  void on_io(std::function<void()> work);  // runs `work` on the I/O thread
  void credit();  // gives the client back the window its bytes used (I/O thread)
  // A write's wait for nghttp2 to take the outbox, at most --stream-write-timeout without
  // progress; false when the call died or the wait timed out (then the stream is reset).
  bool wait_sent(std::unique_lock<std::mutex>& lock);
  // Shared by the blocking and the async paths. Holding mutex_: takes the inbox's first message
  // (true when the inbox has room again); frames a response message into the outbox (false when
  // the transport refuses it: write_error_ says why); gives up a write the client took nothing
  // of for --stream-write-timeout (reset, logged, counted).
  bool take_locked(std::string& message);
  bool frame_locked(std::string_view message, const WriteOptions& options);
  void abandon_write(std::unique_lock<std::mutex>& lock);
  bool dead_for_writes_locked() const {
    return cancelled_ || closed_ || finished_ || last_pending_ || write_error_;
  }
  void push_response();   // I/O thread: nghttp2 learns there are response bytes
  void idle_timed_out();  // no request message for --stream-idle-timeout
  void notify();          // the state a waiting read or write looks at changed

  std::shared_ptr<Session> session_;
  const std::int32_t id_;
  // ---- request, I/O thread only
  std::string method_, path_, content_type_, encoding_, accept_encoding_;
  std::size_t header_bytes_ = 0;  // counted as HPACK counts a header list (name + value + 32)
  std::string pending_;           // request bytes not yet split into messages
  const BoundMethod* call_method_ = nullptr;
  bool started_ = false;
  bool counted_ = false;  // in the session's running calls
  bool stalled_ = false;  // in the session's list of streams waiting for request budget
  bool parked_ = false;   // in the session's list of calls waiting for response budget
  bool request_failed_ = false;
  bool request_ended_seen_ = false;
  bool request_end_delivered_ = false;
  std::size_t uncredited_ = 0;  // request bytes not yet given back to the client's window
  int messages_taken_ = 0;
  std::size_t accounted_ = 0;  // request bytes the session counts for this stream
  std::optional<boost::asio::steady_timer> deadline_timer_;
  // Written by the I/O thread before the handler starts; read-only afterwards.
  std::multimap<std::string, std::string> metadata_;
  std::chrono::system_clock::time_point deadline_ = std::chrono::system_clock::time_point::max();

  // ---- shared with the handler thread, under mutex_
  mutable std::mutex mutex_;
  std::condition_variable changed_;
  struct Message {
    std::string bytes;
    bool compressed;
  };
  std::deque<Message> inbox_;                 // request messages for read()
  std::atomic<bool> last_compressed_{false};  // of the message the handler took last
  std::size_t inbox_bytes_ = 0;
  bool request_ended_ = false;
  std::atomic<bool> cancelled_{false};
  bool closed_ = false;        // the HTTP/2 stream is gone
  bool headers_sent_ = false;  // submitted to nghttp2
  bool finished_ = false;      // status known
  bool last_pending_ = false;  // a last_message write waits for the status
  grpc::Status status_;
  // A write the transport refused (size limit) or gave up on (--stream-write-timeout).
  std::optional<grpc::Status> write_error_;
  Compression compression_ = Compression::kNone;
  std::string outbox_;  // framed response bytes; those from sent_ on nghttp2 has not taken yet
  std::size_t sent_ = 0;
  std::vector<std::pair<std::string, std::string>> initial_, trailing_;
  // An async handler's call (I/O thread only): its stream's wake, and the response bytes
  // nghttp2 has taken, ever.
  std::function<void()> wake_;
  std::uint64_t progress_ = 0;
};

}  // namespace gryphon::internal::native
