#include "transport/native/session.h"

#include <boost/asio/post.hpp>

#include "transport/native/stream.h"

namespace gryphon::internal::native {
namespace {

constexpr std::uint32_t kStreamWindow = 1 << 20;      // per stream, as the client sees it
constexpr std::int32_t kConnectionWindow = 16 << 20;  // the whole connection
constexpr int kMaxPingStrikes = 2;
constexpr std::size_t kResponseBudget = 16 << 20;  // unsent response bytes per connection
constexpr std::size_t kRequestBudget = 16 << 20;   // buffered request bytes per connection
// Resets the server may send on one connection: a burst, then a steady rate (as nghttp2's limit
// on received resets, the rapid-reset fix, which is also set explicitly below).
constexpr double kResetBurst = 1000;
constexpr double kResetsPerSecond = 33;

Session* of(void* user) {
  return static_cast<Session*>(user);
}

}  // namespace

Session::Session(boost::asio::io_context& io, Dispatcher& dispatcher, const Config& config,
                 std::string peer, Hooks hooks)
    : io_(io),
      dispatcher_(dispatcher),
      config_(config),
      peer_(std::move(peer)),
      hooks_(std::move(hooks)),
      budget_(std::max<std::size_t>(kResponseBudget, 2 * config.max_send_message_size)),
      request_budget_(std::max<std::size_t>(kRequestBudget, 2 * config.max_receive_message_size)),
      first_message_timer_(io),
      resets_sent_(kResetBurst, kResetsPerSecond) {
  if (config.max_call_rate_per_connection > 0) {
    const double rate = config.max_call_rate_per_connection;
    calls_started_.emplace(rate, rate);  // a second's worth at once, then the rate
  }
}

Session::~Session() {
  if (session_ != nullptr) nghttp2_session_del(session_);
}

bool Session::start() {
  nghttp2_session_callbacks* callbacks = nullptr;
  if (nghttp2_session_callbacks_new(&callbacks) != 0) return false;
  nghttp2_session_callbacks_set_on_begin_headers_callback(callbacks, on_begin_headers);
  nghttp2_session_callbacks_set_on_header_callback(callbacks, on_header);
  nghttp2_session_callbacks_set_on_frame_recv_callback(callbacks, on_frame_recv);
  nghttp2_session_callbacks_set_on_frame_send_callback(callbacks, on_frame_send);
  nghttp2_session_callbacks_set_on_data_chunk_recv_callback(callbacks, on_data_chunk);
  nghttp2_session_callbacks_set_on_stream_close_callback(callbacks, on_stream_close);
  nghttp2_option* option = nullptr;
  if (nghttp2_option_new(&option) != 0) {
    nghttp2_session_callbacks_del(callbacks);
    return false;
  }
  nghttp2_option_set_max_send_header_block_length(option, 1 << 20);
  // Request bytes are credited back as handlers take them (Stream::credit), not on
  // arrival: a handler that stops reading stops its client.
  nghttp2_option_set_no_auto_window_update(option, 1);
  // Rapid reset (CVE-2023-44487): GOAWAY once a client resets streams faster than this.
  nghttp2_option_set_stream_reset_rate_limit(option, static_cast<std::uint64_t>(kResetBurst),
                                             static_cast<std::uint64_t>(kResetsPerSecond));
  const int created = nghttp2_session_server_new2(&session_, callbacks, this, option);
  nghttp2_option_del(option);
  nghttp2_session_callbacks_del(callbacks);
  if (created != 0) return false;
  const auto streams = static_cast<std::uint32_t>(config_.max_concurrent_streams);
  const nghttp2_settings_entry settings[] = {
      {NGHTTP2_SETTINGS_INITIAL_WINDOW_SIZE, kStreamWindow},
      {NGHTTP2_SETTINGS_MAX_HEADER_LIST_SIZE,
       static_cast<std::uint32_t>(std::min<std::uint64_t>(config_.max_metadata_size, 1u << 30))},
      {NGHTTP2_SETTINGS_MAX_CONCURRENT_STREAMS, streams}};
  nghttp2_submit_settings(session_, NGHTTP2_FLAG_NONE, settings, std::size(settings));
  nghttp2_session_set_local_window_size(session_, NGHTTP2_FLAG_NONE, 0, kConnectionWindow);
  if (draining_) {  // the slot began draining before this connection's handshake ended
    draining_ = false;
    drain();
  }
  return true;
}

Session::Input Session::receive(const std::uint8_t* data, std::size_t size) {
  const ssize_t used = nghttp2_session_mem_recv(session_, data, size);
  note_activity();
  if (!opened_.empty()) {
    const auto deadline = std::chrono::steady_clock::now() + config_.first_message_timeout;
    for (auto& stream : opened_) {
      if (stream->waits_for_first_message())
        stream->awaiting_first = awaiting_first_.insert(awaiting_first_.end(), {deadline, stream});
    }
    opened_.clear();
    if (!awaiting_first_.empty() && !first_message_timer_armed_) arm_first_message_timer();
  }
  if (used == NGHTTP2_ERR_BAD_CLIENT_MAGIC) return Input::kCloseNow;  // not HTTP/2: no answer
  if (used < 0) {
    // Fatal to the connection (a flood, a callback failure): nghttp2 may have queued its GOAWAY.
    if (!nghttp2_session_want_write(session_)) return Input::kCloseNow;
    going_away_ = true;
    return Input::kCloseAfterWrite;
  }
  return going_away_ ? Input::kCloseAfterWrite : Input::kOk;
}

void Session::take_output(std::string& out, std::size_t limit) {
  while (session_ != nullptr && out.size() < limit) {
    const std::uint8_t* data = nullptr;
    const ssize_t n = nghttp2_session_mem_send(session_, &data);
    if (n <= 0) break;
    out.append(reinterpret_cast<const char*>(data), static_cast<std::size_t>(n));
  }
  note_activity();
}

bool Session::done() const {
  if (session_ == nullptr) return false;
  return !nghttp2_session_want_read(session_) && !nghttp2_session_want_write(session_);
}

void Session::drain() {
  if (draining_ || going_away_) return;
  draining_ = true;
  if (session_ == nullptr) return;  // start() sends the notice
  // Two steps: GOAWAY with the highest stream id and a PING; once the PING is answered, every
  // stream the client started before it saw the notice has arrived, and the real GOAWAY names
  // the last one.
  nghttp2_submit_shutdown_notice(session_);
  nghttp2_submit_ping(session_, NGHTTP2_FLAG_NONE, nullptr);
  request_write();
}

void Session::finish_drain() {
  if (!draining_ || drain_finished_ || going_away_ || session_ == nullptr) return;
  drain_finished_ = true;
  nghttp2_submit_goaway(session_, NGHTTP2_FLAG_NONE,
                        nghttp2_session_get_last_proc_stream_id(session_), NGHTTP2_NO_ERROR,
                        nullptr, 0);
  request_write();
}

void Session::go_away(std::uint32_t code, const std::string& debug) {
  if (going_away_ || session_ == nullptr) return;
  going_away_ = true;
  nghttp2_submit_goaway(session_, NGHTTP2_FLAG_NONE,
                        nghttp2_session_get_last_proc_stream_id(session_), code,
                        reinterpret_cast<const std::uint8_t*>(debug.data()), debug.size());
  request_write();
}

void Session::close() {
  first_message_timer_.cancel();
  for (auto& [deadline, weak] : awaiting_first_) {
    if (auto stream = weak.lock()) stream->awaiting_first.reset();
  }
  awaiting_first_.clear();
  opened_.clear();
  auto streams = std::move(streams_);
  streams_.clear();
  for (auto& [id, stream] : streams) stream->on_closed();
  hooks_ = {};  // the connection is going: nothing more to tell it
}

void Session::resume(std::int32_t id) {
  nghttp2_session_resume_data(session_, id);
}

void Session::reset(std::int32_t id, std::uint32_t code) {
  nghttp2_submit_rst_stream(session_, NGHTTP2_FLAG_NONE, id, code);
}

void Session::credit(std::int32_t id, std::size_t bytes) {
  nghttp2_session_consume_stream(session_, id, bytes);
}

void Session::remove_unsent(std::size_t bytes) {
  unsent_ -= bytes;
  if (worker_ != nullptr) worker_->responses.remove(bytes);
  taken_ += bytes;
  schedule_unpark();
}

void Session::schedule_unpark() {
  if (parked_.empty() || over_budget() || unpark_scheduled_) return;
  unpark_scheduled_ = true;  // not from inside nghttp2's callback: on the next turn of the loop
  boost::asio::post(io_, [self = shared_from_this()] {
    self->unpark_scheduled_ = false;
    self->unpark();
  });
}

void Session::change_request_bytes(std::int64_t delta) {
  request_bytes_ = static_cast<std::size_t>(static_cast<std::int64_t>(request_bytes_) + delta);
  if (worker_ != nullptr) {
    if (delta > 0) worker_->requests.add(static_cast<std::size_t>(delta));
    if (delta < 0) worker_->requests.remove(static_cast<std::size_t>(-delta));
  }
  request_room();
}

// The request budgets may have room: the connection window reopens and stalled streams go on.
void Session::request_room() {
  if (over_request_budget()) return await_worker_requests();
  credit_connection();
  if (stalled_.empty() || unstall_scheduled_) return;
  unstall_scheduled_ = true;  // not from inside nghttp2's callbacks: on the next turn
  boost::asio::post(io_, [self = shared_from_this()] {
    self->unstall_scheduled_ = false;
    auto stalled = std::move(self->stalled_);
    self->stalled_.clear();
    for (auto& weak : stalled) {
      if (auto stream = weak.lock(); stream && !stream->closed()) stream->unstall();
    }
    self->request_write();
  });
}

void Session::await_worker_requests() {
  // Over the connection's own budget, handlers taking their bytes free it: change_request_bytes.
  if (worker_ == nullptr || request_bytes_ >= request_budget_ ||
      (stalled_.empty() && connection_uncredited_ == 0))
    return;
  await_worker(worker_->requests, awaiting_worker_requests_, &Session::request_room);
}

void Session::await_worker(WorkerBudget& budget, bool& awaiting, void (Session::*then)()) {
  if (awaiting) return;
  awaiting = true;
  budget.wait(io_, [weak = weak_from_this(), &awaiting, then] {
    auto self = weak.lock();
    if (!self) return;
    awaiting = false;
    ((*self).*then)();
    self->request_write();
  });
}

void Session::watch_first_message(std::shared_ptr<Stream> stream) {
  opened_.push_back(std::move(stream));
}

void Session::forget_first_message(std::optional<AwaitingFirst::iterator>& entry) {
  if (!entry) return;
  awaiting_first_.erase(*entry);
  entry.reset();
}

void Session::arm_first_message_timer() {
  first_message_timer_armed_ = true;
  first_message_timer_.expires_at(awaiting_first_.front().first);
  first_message_timer_.async_wait([weak = weak_from_this()](const boost::system::error_code& ec) {
    if (auto self = weak.lock(); self && !ec) self->on_first_message_timer();
  });
}

void Session::on_first_message_timer() {
  first_message_timer_armed_ = false;
  const auto now = std::chrono::steady_clock::now();
  while (!awaiting_first_.empty() && awaiting_first_.front().first <= now) {
    auto stream = awaiting_first_.front().second.lock();
    awaiting_first_.pop_front();
    if (!stream) continue;
    stream->awaiting_first.reset();
    stream->on_first_message_timeout();
  }
  if (!awaiting_first_.empty()) arm_first_message_timer();
  request_write();
}

void Session::stall(std::shared_ptr<Stream> stream) {
  stalled_.push_back(std::move(stream));
  await_worker_requests();
}

void Session::credit_connection() {
  if (connection_uncredited_ == 0 || session_ == nullptr) return;
  if (over_request_budget()) return await_worker_requests();
  nghttp2_session_consume_connection(session_, connection_uncredited_);
  connection_uncredited_ = 0;
}

void Session::on_reset_sent() {
  if (!resets_sent_.take()) go_away(NGHTTP2_ENHANCE_YOUR_CALM, "too_many_resets");
}

void Session::park(std::shared_ptr<Stream> stream) {
  parked_.push_back(std::move(stream));
  schedule_unpark();  // the budget may have freed up meanwhile
  await_worker_responses();
}

void Session::await_worker_responses() {
  // Over the connection's own budget, its client reading frees it: remove_unsent().
  if (worker_ == nullptr || parked_.empty() || unsent_.load() > budget_) return;
  await_worker(worker_->responses, awaiting_worker_responses_, &Session::unpark);
}

void Session::unpark() {
  while (!parked_.empty() && !over_budget()) {
    auto stream = parked_.front().lock();
    parked_.pop_front();
    if (stream && !stream->closed()) stream->unparked();
  }
  await_worker_responses();
}

Stream* Session::find(std::int32_t id) {
  auto it = streams_.find(id);
  return it == streams_.end() ? nullptr : it->second.get();
}

void Session::on_ping(bool ack) {
  if (ack) {
    if (draining_) finish_drain();
    return;
  }
  const auto now = std::chrono::steady_clock::now();
  if (last_ping_ && now - *last_ping_ < config_.keepalive_min_interval) ++ping_strikes_;
  last_ping_ = now;
  if (ping_strikes_ > kMaxPingStrikes) go_away(NGHTTP2_ENHANCE_YOUR_CALM, "too_many_pings");
}

// ---------------------------------------------------------------- nghttp2 callbacks

int Session::on_begin_headers(nghttp2_session*, const nghttp2_frame* frame, void* user) {
  Session* self = of(user);
  if (frame->hd.type != NGHTTP2_HEADERS || frame->headers.cat != NGHTTP2_HCAT_REQUEST) return 0;
  if (self->calls_started_ && !self->calls_started_->take())
    self->go_away(NGHTTP2_ENHANCE_YOUR_CALM, "too_many_calls");
  self->streams_[frame->hd.stream_id] =
      std::make_shared<Stream>(self->shared_from_this(), frame->hd.stream_id);
  return 0;
}

int Session::on_header(nghttp2_session*, const nghttp2_frame* frame, const std::uint8_t* name,
                       std::size_t namelen, const std::uint8_t* value, std::size_t valuelen,
                       std::uint8_t, void* user) {
  if (frame->hd.type != NGHTTP2_HEADERS || frame->headers.cat != NGHTTP2_HCAT_REQUEST) return 0;
  if (Stream* stream = of(user)->find(frame->hd.stream_id)) {
    stream->on_header({reinterpret_cast<const char*>(name), namelen},
                      {reinterpret_cast<const char*>(value), valuelen});
  }
  return 0;
}

int Session::on_frame_recv(nghttp2_session*, const nghttp2_frame* frame, void* user) {
  Session* self = of(user);
  switch (frame->hd.type) {
    case NGHTTP2_SETTINGS:
      if (!self->handshake_done_ && !(frame->hd.flags & NGHTTP2_FLAG_ACK)) {
        self->handshake_done_ = true;
        if (self->hooks_.handshake_done) self->hooks_.handshake_done();
      }
      return 0;
    case NGHTTP2_PING: self->on_ping((frame->hd.flags & NGHTTP2_FLAG_ACK) != 0); return 0;
    default: break;
  }
  if (frame->hd.type == NGHTTP2_HEADERS || frame->hd.type == NGHTTP2_DATA) self->active_ = true;
  Stream* stream = self->find(frame->hd.stream_id);
  if (stream == nullptr) return 0;
  if (frame->hd.type == NGHTTP2_HEADERS && frame->headers.cat == NGHTTP2_HCAT_REQUEST)
    stream->on_headers_end();
  if ((frame->hd.type == NGHTTP2_HEADERS || frame->hd.type == NGHTTP2_DATA) &&
      (frame->hd.flags & NGHTTP2_FLAG_END_STREAM)) {
    stream->on_end_of_request();
  }
  // Far over the worker's request budget (connections opened before it filled still had their
  // windows): a stream that grew and has no call to take its bytes gives them up.
  if (frame->hd.type == NGHTTP2_DATA && self->worker_ != nullptr &&
      self->worker_->requests.far_over())
    stream->shed(self->worker_->requests.limit());
  return 0;
}

int Session::on_frame_send(nghttp2_session*, const nghttp2_frame* frame, void* user) {
  Session* self = of(user);
  // Resets the server chose (NO_ERROR after a whole response, REFUSED_STREAM over a limit) are
  // not what a client provokes; the rest (flow-control and protocol errors) are counted.
  if (frame->hd.type == NGHTTP2_RST_STREAM && frame->rst_stream.error_code != NGHTTP2_NO_ERROR &&
      frame->rst_stream.error_code != NGHTTP2_REFUSED_STREAM)
    self->on_reset_sent();
  if (frame->hd.type != NGHTTP2_HEADERS && frame->hd.type != NGHTTP2_DATA) return 0;
  self->ping_strikes_ = 0;  // the server sent something: pings are welcome again
  self->last_ping_.reset();
  self->active_ = true;
  if (!(frame->hd.flags & NGHTTP2_FLAG_END_STREAM)) return 0;
  // The response is complete while the client is still sending: RFC 9113 §8.1 lets the server
  // ask it to stop without error.
  Stream* stream = self->find(frame->hd.stream_id);
  if (stream != nullptr && stream->request_open())
    self->reset(frame->hd.stream_id, NGHTTP2_NO_ERROR);
  return 0;
}

int Session::on_data_chunk(nghttp2_session* session, std::uint8_t, std::int32_t id,
                           const std::uint8_t* data, std::size_t len, void* user) {
  // The connection window reopens while the connection's request bytes are under budget; each
  // stream's only as its handler reads.
  Session* self = of(user);
  self->connection_uncredited_ += len;
  if (Stream* stream = self->find(id))
    stream->on_data(data, len);
  else
    nghttp2_session_consume_stream(session, id, len);
  self->credit_connection();
  return 0;
}

int Session::on_stream_close(nghttp2_session*, std::int32_t id, std::uint32_t, void* user) {
  Session* self = of(user);
  auto it = self->streams_.find(id);
  if (it == self->streams_.end()) return 0;
  const std::shared_ptr<Stream> stream = std::move(it->second);
  self->streams_.erase(it);
  stream->on_closed();
  return 0;
}

}  // namespace gryphon::internal::native
