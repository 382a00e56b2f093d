#include "transport/native/stream.h"

#include <boost/asio/post.hpp>
#include <cstring>
#include <deque>

#include "observability/logging.h"
#include "transport/native/grpc_wire.h"
#include "transport/native/header_block.h"
#include "transport/native/session.h"

namespace gryphon::internal::native {
namespace {

// Response bytes buffer_hint writes may pile up before a write waits for nghttp2 anyway.
constexpr std::size_t kOutboxLimit = 1 << 20;

}  // namespace

Stream::Stream(std::shared_ptr<Session> session, std::int32_t id)
    : session_(std::move(session)), id_(id) {}

// ---------------------------------------------------------------- ServerCall

const std::string& Stream::peer() {
  return session_->peer();
}

std::optional<std::string_view> Stream::find_metadata(std::string_view key) const {
  auto it = metadata_.find(std::string(key));
  if (it == metadata_.end()) return std::nullopt;
  return std::string_view(it->second);
}

std::vector<std::string_view> Stream::metadata_values(std::string_view key) const {
  std::vector<std::string_view> values;
  const auto [first, last] = metadata_.equal_range(std::string(key));
  for (auto it = first; it != last; ++it) values.emplace_back(it->second);
  return values;
}

void Stream::add_initial_metadata(const std::string& key, const std::string& value) {
  std::lock_guard lock(mutex_);
  initial_.emplace_back(key, value);
}

void Stream::add_trailing_metadata(const std::string& key, const std::string& value) {
  std::lock_guard lock(mutex_);
  trailing_.emplace_back(key, value);
}

void Stream::set_compression(Compression algorithm) {
  std::lock_guard lock(mutex_);
  if (!headers_sent_ && accepts(algorithm)) compression_ = algorithm;
}

bool Stream::accepts(Compression algorithm) const {
  if (algorithm == Compression::kNone) return true;
  const std::string_view name = algorithm == Compression::kGzip ? "gzip" : "deflate";
  return accept_encoding_.find(name) != std::string::npos;
}

void Stream::on_io(std::function<void()> work) {
  boost::asio::post(session_->io(),
                    [self = shared_from_this(), work = std::move(work)] { work(); });
}

// ---------------------------------------------------------------- running the call

void Stream::start_call() {
  {
    std::lock_guard lock(mutex_);
    if (started_ || over_locked()) return;
  }
  // The connection holds too many response bytes its client has not read: the handler waits
  // until they leave (Session::remove_unsent) rather than producing more.
  if (session_->over_budget()) {
    if (!parked_) {
      parked_ = true;
      session_->park(shared_from_this());  // unparked() once the client has read
    }
    return;
  }
  if (!session_->may_start_call()) {
    // Over --max-rpcs-per-connection: unprocessed, so the client may retry it elsewhere.
    request_failed_ = true;
    {
      std::lock_guard lock(mutex_);
      finished_ = true;
    }
    session_->reset(id_, NGHTTP2_REFUSED_STREAM);
    session_->request_write();
    return;
  }
  started_ = true;
  session_->forget_first_message(awaiting_first);
  counted_ = true;
  session_->call_started();
  Dispatcher& dispatcher = session_->dispatcher();
  Admission admission = dispatcher.admit(*call_method_);
  auto self = shared_from_this();
  if (call_method_->def.type == RpcType::kUnary) {
    std::string request;
    std::size_t messages = 0;
    {
      std::lock_guard lock(mutex_);
      messages = inbox_.size();
      if (messages == 1) {
        request = std::move(inbox_.front().bytes);
        last_compressed_ = inbox_.front().compressed;
      }
      inbox_.clear();
      inbox_bytes_ = 0;
    }
    account();
    if (messages != 1) {
      admission.refund();
      fail_request(grpc::Status(grpc::StatusCode::INTERNAL,
                                messages == 0 ? "the client sent no request message"
                                              : "a unary call got several requests"));
      return;
    }
    if (admission && call_method_->def.is_async()) {
      dispatcher.run_unary_async(*call_method_, *this, std::move(request), std::move(admission),
                                 session_->io().get_executor(),
                                 [self](const grpc::Status& status, std::string& response) {
                                   self->answer_unary(status, response);
                                 });
    } else if (Dispatcher::runs_on_io_thread(*call_method_, admission)) {
      serve_unary(std::move(admission), std::move(request));
    } else {
      boost::asio::post(dispatcher.pool(), [self, admission = std::move(admission),
                                            request = std::move(request)]() mutable {
        // Calls posted together (one client's burst) see the budget only now: past it this one
        // goes back to wait, its request with it.
        if (self->session_->over_budget()) {
          admission.refund();  // not served: it is admitted again when it starts again
          return self->requeue(std::move(request));
        }
        self->serve_unary(std::move(admission), std::move(request));
      });
    }
    return;
  }
  if (admission && call_method_->def.is_async()) {
    dispatcher.run_stream_async(
        *call_method_, *this, *this, std::move(admission), session_->io().get_executor(),
        [self](const grpc::Status& status, std::string&) { self->finish(status); });
    return;
  }
  const auto serve_stream = [self](Admission admission) {
    const grpc::Status status =
        self->session_->dispatcher().run_stream(*self->call_method_, *self, *self, admission);
    admission.reset();
    self->finish(status);
  };
  if (Dispatcher::runs_on_io_thread(*call_method_, admission))
    return serve_stream(std::move(admission));  // refused: answered at once
  boost::asio::post(dispatcher.pool(), [serve_stream, admission = std::move(admission)]() mutable {
    serve_stream(std::move(admission));
  });
}

void Stream::requeue(std::string request) {
  on_io([this, request = std::move(request)]() mutable {
    {
      std::lock_guard lock(mutex_);
      inbox_bytes_ += request.size() + kMessageCost;
      inbox_.push_front({std::move(request), last_compressed_.load()});
    }
    account();
    started_ = false;
    if (counted_) {
      counted_ = false;
      session_->call_ended();
    }
    parked_ = true;
    session_->park(shared_from_this());
  });
}

void Stream::serve_unary(Admission admission, std::string request) {
  Dispatcher& dispatcher = session_->dispatcher();
  std::string response;
  const grpc::Status status =
      dispatcher.run_unary(*call_method_, *this, request, response, admission);
  admission.reset();
  answer_unary(status, response);
}

void Stream::answer_unary(grpc::Status status, std::string& response) {
  if (status.ok() && !write(response, WriteOptions{.last_message = true}) && !cancelled_) {
    status = grpc::Status(grpc::StatusCode::CANCELLED, "the call ended");
  }
  finish(status);
}

// ---------------------------------------------------------------- the response (handler side)

bool Stream::read(std::string& message) {
  std::unique_lock lock(mutex_);
  const auto ready = [&] {
    return !inbox_.empty() || request_ended_ || cancelled_ || closed_ || finished_;
  };
  const Duration idle = session_->config().stream_idle_timeout;
  if (idle.count() == 0) {
    changed_.wait(lock, ready);
  } else if (!changed_.wait_for(lock, idle, ready)) {
    // A client that holds a stream open and sends nothing holds this thread: not for longer.
    lock.unlock();
    idle_timed_out();
    return false;
  }
  if (inbox_.empty()) return false;
  if (take_locked(message)) {
    // Room again: split off what waits, give the window back, count the bytes that left.
    on_io([this] {
      take_messages();
      session_->request_write();
    });
  }
  return true;
}

bool Stream::take_locked(std::string& message) {
  message = std::move(inbox_.front().bytes);
  last_compressed_ = inbox_.front().compressed;
  inbox_.pop_front();
  inbox_bytes_ -= message.size() + kMessageCost;
  return inbox_bytes_ < kStreamInboxLimit;
}

void Stream::idle_timed_out() {
  cancelled_ = true;
  finish(grpc::Status(grpc::StatusCode::CANCELLED,
                      "no request message for " +
                          option_seconds(session_->config().stream_idle_timeout) +
                          " (--stream-idle-timeout)"));
}

bool Stream::write(std::string_view message, const WriteOptions& options) {
  std::unique_lock lock(mutex_);
  if (dead_for_writes_locked() || !frame_locked(message, options)) return false;
  if (options.last_message) return true;  // leaves with the status
  lock.unlock();
  on_io([this] { push_response(); });
  lock.lock();
  if (options.buffer_hint && outbox_.size() - sent_ < kOutboxLimit) return true;
  return wait_sent(lock);
}

bool Stream::frame_locked(std::string_view message, const WriteOptions& options) {
  const std::uint64_t limit = session_->config().max_send_message_size;
  if (message.size() > limit) {
    write_error_ = grpc::Status(grpc::StatusCode::RESOURCE_EXHAUSTED,
                                "response message of " + std::to_string(message.size()) +
                                    " bytes is over the limit of " + std::to_string(limit) +
                                    " (--max-send-message-size)");
    return false;
  }
  const bool compress = compression_ != Compression::kNone && !options.no_compression;
  if (sent_ == outbox_.size()) {  // everything framed so far has gone: start over
    outbox_.clear();
    sent_ = 0;
  }
  const std::size_t before = outbox_.size();
  if (!frame_message(message, compress ? compression_ : Compression::kNone, &outbox_)) {
    write_error_ = grpc::Status(grpc::StatusCode::INTERNAL, "compressing the response failed");
    return false;
  }
  session_->add_unsent(outbox_.size() - before);
  if (options.last_message) last_pending_ = true;
  return true;
}

void Stream::push_response() {
  {
    std::lock_guard guard(mutex_);  // released before nghttp2 runs: it calls read_response()
    if (closed_) return;
    if (!headers_sent_)
      submit_headers_locked(false);
    else
      session_->resume(id_);
  }
  session_->request_write();
}

// Bounded memory: a write waits until nghttp2 (within flow control) has taken the bytes. A client
// that opens no window holds this thread only --stream-write-timeout past the last byte it took.
bool Stream::wait_sent(std::unique_lock<std::mutex>& lock) {
  const auto done = [&] { return sent_ == outbox_.size() || cancelled_ || closed_; };
  const Duration limit = session_->config().stream_write_timeout;
  if (limit.count() == 0) {
    changed_.wait(lock, done);
    return !cancelled_ && !closed_;
  }
  // Progress is looked at four times per timeout here, so that nghttp2's callback, on the RPC
  // path, keeps no clock: the call ends between 1 and 1.25 timeouts after the last byte left.
  auto moved_at = std::chrono::steady_clock::now();
  for (std::size_t seen = sent_; !changed_.wait_for(lock, limit / 4, done);) {
    const auto now = std::chrono::steady_clock::now();
    if (sent_ != seen) {
      seen = sent_;
      moved_at = now;
    }
    if (now - moved_at < limit) continue;
    abandon_write(lock);
    return false;
  }
  return !cancelled_ && !closed_;
}

void Stream::abandon_write(std::unique_lock<std::mutex>& lock) {
  write_error_ = grpc::Status(
      grpc::StatusCode::CANCELLED,
      "the client read no response bytes for " +
          option_seconds(session_->config().stream_write_timeout) +
          " while a stream write waited for its flow-control window (--stream-write-timeout)");
  session_->dispatcher().stats().write_timeouts.fetch_add(1, std::memory_order_relaxed);
  lock.unlock();
  on_io([this, why = write_error_->error_message()] {
    log::process()->info("resetting stream {} of {}: {}", id_, session_->peer(), why);
    session_->reset(id_, NGHTTP2_CANCEL);
    session_->request_write();
  });
  lock.lock();
}

bool Stream::send_initial_metadata() {
  std::unique_lock lock(mutex_);
  if (headers_sent_) return true;
  if (cancelled_ || closed_) return false;
  lock.unlock();
  on_io([this] {
    {
      std::lock_guard guard(mutex_);
      if (!closed_ && !headers_sent_) submit_headers_locked(false);
    }
    session_->request_write();
    notify();
  });
  lock.lock();
  changed_.wait(lock, [&] { return headers_sent_ || cancelled_ || closed_; });
  return headers_sent_;
}

void Stream::finish(const grpc::Status& status) {
  {
    std::lock_guard lock(mutex_);
    if (finished_) return;
    finished_ = true;
    status_ = write_error_ ? *write_error_ : status;
  }
  notify();
  on_io([this] {
    if (deadline_timer_) deadline_timer_->cancel();
    if (counted_) {
      counted_ = false;
      session_->call_ended();
    }
    {
      std::lock_guard guard(mutex_);
      if (closed_) return;
      if (!headers_sent_)
        submit_headers_locked(sent_ == outbox_.size());  // nothing to send: Trailers-Only
      else
        session_->resume(id_);
    }
    session_->request_write();
  });
}

void Stream::notify() {
  changed_.notify_all();
  if (wake_) wake_();  // set only for an async handler's call, all of whose work is on this thread
}

// ---------------------------------------------------------------- an async handler's stream

detail::AsyncRawStream::Poll Stream::poll_read(std::string& message) {
  bool room = false;
  {
    std::lock_guard lock(mutex_);
    if (inbox_.empty())
      return request_ended_ || cancelled_ || closed_ || finished_ ? Poll::kEnded : Poll::kWait;
    room = take_locked(message);
  }
  if (room) {
    take_messages();
    session_->request_write();
  }
  return Poll::kReady;
}

// One message at a time, as the blocking write: the next waits until nghttp2 has taken this one
// (buffer_hint ones pile up to kOutboxLimit).
detail::AsyncRawStream::Poll Stream::poll_write(std::string_view message,
                                                const WriteOptions& options) {
  {
    std::lock_guard lock(mutex_);
    if (dead_for_writes_locked()) return Poll::kEnded;
    const std::size_t unsent = outbox_.size() - sent_;
    if (unsent > 0 && !(options.buffer_hint && unsent < kOutboxLimit)) return Poll::kWait;
    if (!frame_locked(message, options)) return Poll::kEnded;
    if (options.last_message) return Poll::kReady;  // leaves with the status
  }
  push_response();
  return Poll::kReady;
}

detail::AsyncRawStream::Poll Stream::poll_send_initial_metadata() {
  {
    std::lock_guard lock(mutex_);
    if (headers_sent_) return Poll::kReady;
    if (cancelled_ || closed_) return Poll::kEnded;
    submit_headers_locked(false);
  }
  session_->request_write();
  return Poll::kReady;
}

detail::AsyncRawStream::Poll Stream::poll_flushed() {
  std::lock_guard lock(mutex_);
  if (sent_ == outbox_.size() || last_pending_) return Poll::kReady;
  return cancelled_ || closed_ || write_error_ ? Poll::kEnded : Poll::kWait;
}

void Stream::read_timed_out() {
  idle_timed_out();
}

void Stream::write_timed_out() {
  std::unique_lock lock(mutex_);
  abandon_write(lock);
}

// ---------------------------------------------------------------- frames (I/O thread)

// The response headers; with `trailers_only`, headers that are also the trailers. Holding mutex_.
void Stream::submit_headers_locked(bool trailers_only) {
  HeaderBlock block;
  block.add(":status", "200");
  block.add("content-type", "application/grpc");
  if (compression_ != Compression::kNone)
    block.add("grpc-encoding", compression_ == Compression::kGzip ? "gzip" : "deflate");
  block.add("grpc-accept-encoding", "identity,deflate,gzip");
  block.add_metadata(initial_);
  if (trailers_only) block.add_trailers(status_, trailing_);
  nghttp2_data_provider provider{};
  provider.source.ptr = this;
  provider.read_callback = [](nghttp2_session*, std::int32_t, std::uint8_t* buf, std::size_t length,
                              std::uint32_t* flags, nghttp2_data_source* source, void*) -> ssize_t {
    return static_cast<Stream*>(source->ptr)->read_response(buf, length, flags);
  };
  nghttp2_submit_response(session_->raw(), id_, block.data(), block.size(),
                          trailers_only ? nullptr : &provider);
  headers_sent_ = true;
}

ssize_t Stream::read_response(std::uint8_t* buffer, std::size_t length, std::uint32_t* flags) {
  std::lock_guard lock(mutex_);
  const std::size_t n = std::min(length, outbox_.size() - sent_);
  std::memcpy(buffer, outbox_.data() + sent_, n);
  sent_ += n;
  progress_ += n;
  session_->remove_unsent(n);
  if (sent_ == outbox_.size()) notify();
  if (n > 0) return static_cast<ssize_t>(n);
  if (!finished_) return NGHTTP2_ERR_DEFERRED;
  *flags |= NGHTTP2_DATA_FLAG_EOF | NGHTTP2_DATA_FLAG_NO_END_STREAM;
  HeaderBlock trailers;
  trailers.add_trailers(status_, trailing_);
  nghttp2_submit_trailer(session_->raw(), id_, trailers.data(), trailers.size());
  return 0;
}

}  // namespace gryphon::internal::native
