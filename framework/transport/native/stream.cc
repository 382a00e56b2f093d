#include "transport/native/stream.h"

#include <boost/asio/post.hpp>
#include <cstring>
#include <deque>

#include "transport/native/grpc_wire.h"
#include "transport/native/session.h"

namespace gryphon::internal::native {
namespace {

// Request bytes a stream may hold before the handler reads them; past it the client's window
// is not reopened until it does.
constexpr std::size_t kStreamInboxLimit = 1 << 20;
// Response bytes buffer_hint writes may pile up before a write waits for nghttp2 anyway.
constexpr std::size_t kOutboxLimit = 1 << 20;

bool is_binary(const std::string& key) {
  return key.size() > 4 && key.compare(key.size() - 4, 4, "-bin") == 0;
}

nghttp2_nv field(std::string_view name, std::string_view value, std::uint8_t flags) {
  return {reinterpret_cast<std::uint8_t*>(const_cast<char*>(name.data())),
          reinterpret_cast<std::uint8_t*>(const_cast<char*>(value.data())), name.size(),
          value.size(), flags};
}

// Metadata whose value is new on every call. Indexed, each would take a new entry in the HPACK
// dynamic table and push the repeated fields out of it: with x-request-id indexed, the encoder's
// table churn cost 22% of a native worker's throughput (perf: memcmp in nghttp2_session_mem_send).
bool unique_per_call(std::string_view key) {
  return key == "x-request-id" || key == "traceparent" || key == "tracestate" ||
         key == "grpc-trace-bin" || key == "x-b3-traceid" || key == "x-b3-spanid";
}

// A header block for nghttp2_submit_*. Fixed fields point at string literals, which nghttp2 need
// not copy; the rest point at metadata or at strings the block keeps, which nghttp2 copies when
// the block is submitted.
class HeaderBlock {
 public:
  // A field whose name and value are string literals.
  void add(std::string_view name, std::string_view value) {
    fields_.push_back(
        field(name, value, NGHTTP2_NV_FLAG_NO_COPY_NAME | NGHTTP2_NV_FLAG_NO_COPY_VALUE));
  }
  // A field whose name is a string literal and whose value the block keeps.
  void add_owned(std::string_view name, std::string value) {
    fields_.push_back(field(name, keep(std::move(value)), NGHTTP2_NV_FLAG_NO_COPY_NAME));
  }
  // Application metadata: -bin values go base64-encoded.
  void add_metadata(const std::vector<std::pair<std::string, std::string>>& metadata) {
    for (const auto& [key, value] : metadata) {
      const std::string_view text = is_binary(key) ? keep(base64_encode(value)) : value;
      fields_.push_back(field(key, text, unique_per_call(key) ? NGHTTP2_NV_FLAG_NO_INDEX : 0));
    }
  }
  void add_trailers(const grpc::Status& status,
                    const std::vector<std::pair<std::string, std::string>>& trailing) {
    static constexpr std::string_view kCodes[] = {"0", "1",  "2",  "3",  "4",  "5",  "6",  "7", "8",
                                                  "9", "10", "11", "12", "13", "14", "15", "16"};
    const int code = static_cast<int>(status.error_code());
    if (code >= 0 && code < static_cast<int>(std::size(kCodes)))
      add("grpc-status", kCodes[code]);
    else
      add_owned("grpc-status", std::to_string(code));
    if (!status.error_message().empty())
      add_owned("grpc-message", percent_encode(status.error_message()));
    add_metadata(trailing);
  }
  const nghttp2_nv* data() const { return fields_.data(); }
  std::size_t size() const { return fields_.size(); }

 private:
  std::string_view keep(std::string value) { return owned_.emplace_back(std::move(value)); }

  std::vector<nghttp2_nv> fields_;
  std::deque<std::string> owned_;  // stable addresses as it grows
};

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

// ---------------------------------------------------------------- the request (I/O thread)

void Stream::on_header(std::string_view name, std::string_view value) {
  header_bytes_ += name.size() + value.size() + 32;
  if (header_bytes_ > session_->config().max_metadata_size) return;  // refused at the end
  if (name == ":method")
    method_ = value;
  else if (name == ":path")
    path_ = value;
  else if (name == "content-type")
    content_type_ = value;
  else if (name == "grpc-encoding")
    encoding_ = value;
  else if (name == "grpc-accept-encoding")
    accept_encoding_ = value;
  else if (name == "grpc-timeout") {
    if (const auto timeout = parse_grpc_timeout(value); timeout && *timeout < kNoTimeout)
      deadline_ = std::chrono::system_clock::now() +
                  std::chrono::duration_cast<std::chrono::system_clock::duration>(*timeout);
  }
  // Transport headers are not application metadata (gRPC C++ does not show them either).
  if (!name.empty() && name[0] == ':') return;
  if (name == "te" || name == "content-type" || name == "grpc-timeout" || name == "grpc-encoding" ||
      name == "grpc-accept-encoding")
    return;
  std::string key(name);
  std::string text = is_binary(key) ? base64_decode(value) : std::string(value);
  metadata_.emplace(std::move(key), std::move(text));
}

void Stream::answer_http(const char* status) {
  const nghttp2_nv headers[] = {field(":status", status, NGHTTP2_NV_FLAG_NONE)};
  nghttp2_submit_response(session_->raw(), id_, headers, 1, nullptr);
  request_failed_ = true;
  std::lock_guard lock(mutex_);
  finished_ = true;
  headers_sent_ = true;
}

void Stream::fail_request(const grpc::Status& status) {
  request_failed_ = true;
  finish(status);
}

void Stream::on_headers_end() {
  if (method_ != "POST") return answer_http("405");
  if (content_type_.rfind("application/grpc", 0) != 0) return answer_http("415");
  const Config& config = session_->config();
  if (header_bytes_ > config.max_metadata_size) {
    return fail_request(grpc::Status(
        grpc::StatusCode::RESOURCE_EXHAUSTED,
        "request metadata of " + std::to_string(header_bytes_) + " bytes is over the limit of " +
            std::to_string(config.max_metadata_size) + " (--max-metadata-size)"));
  }
  Dispatcher& dispatcher = session_->dispatcher();
  call_method_ = dispatcher.find(path_);
  if (deadline_ != std::chrono::system_clock::time_point::max()) {
    deadline_timer_.emplace(session_->io());
    deadline_timer_->expires_after(deadline_ - std::chrono::system_clock::now());
    deadline_timer_->async_wait([self = shared_from_this()](const boost::system::error_code& ec) {
      if (ec) return;
      self->cancelled_ = true;
      self->changed_.notify_all();
      self->finish(grpc::Status(grpc::StatusCode::DEADLINE_EXCEEDED, "Deadline Exceeded"));
    });
  }
  if (call_method_ == nullptr) {
    finish(dispatcher.run_unknown(dispatcher.unknown_method(path_), *this, path_));
    return;
  }
  // A streaming call starts now; a unary one once its request is complete.
  if (call_method_->def.type != RpcType::kUnary) start_call();
}

void Stream::on_data(const std::uint8_t* data, std::size_t size) {
  bool wanted = !request_failed_;
  if (wanted) {  // messages are split off without the lock: decompression may take a while
    pending_.append(reinterpret_cast<const char*>(data), size);
  }
  std::optional<grpc::Status> failure;
  bool added = false;
  {
    std::lock_guard lock(mutex_);
    uncredited_ += size;
    wanted = wanted && !finished_ && !closed_;
  }
  while (wanted) {
    std::string message;
    const FrameResult result =
        take_message(pending_, session_->config().max_receive_message_size, encoding_, &message);
    if (result.status) failure = result.status;
    if (!result.complete) break;
    std::lock_guard lock(mutex_);
    inbox_bytes_ += message.size();
    inbox_.push_back({std::move(message), result.compressed});
    added = true;
  }
  {
    // The client's window reopens unless the handler is behind; bytes nobody reads reopen it now.
    std::lock_guard lock(mutex_);
    if (!wanted || failure || inbox_bytes_ < kStreamInboxLimit) credit_locked();
  }
  if (added) changed_.notify_all();
  if (failure) fail_request(*failure);
}

void Stream::credit_locked() {
  if (uncredited_ == 0) return;
  session_->credit(id_, uncredited_);
  uncredited_ = 0;
}

void Stream::on_end_of_request() {
  request_ended_seen_ = true;
  if (request_failed_) return;
  if (!pending_.empty()) {
    fail_request(grpc::Status(grpc::StatusCode::INTERNAL, "the request ended inside a message"));
    return;
  }
  {
    std::lock_guard lock(mutex_);
    request_ended_ = true;
  }
  changed_.notify_all();
  if (call_method_ != nullptr && call_method_->def.type == RpcType::kUnary) start_call();
}

void Stream::on_closed() {
  {
    std::lock_guard lock(mutex_);
    closed_ = true;
    session_->remove_unsent(outbox_.size() - sent_);  // never to be sent
    sent_ = outbox_.size();
    if (!finished_) cancelled_ = true;  // the client went away (RST_STREAM) before the status
  }
  if (deadline_timer_) deadline_timer_->cancel();
  changed_.notify_all();
}

// ---------------------------------------------------------------- running the call

void Stream::start_call() {
  if (started_ || finished_) return;
  // The connection holds too many response bytes its client has not read: the handler waits
  // until they leave (Session::remove_unsent) rather than producing more.
  if (session_->over_budget()) return session_->park(shared_from_this());
  started_ = true;
  Dispatcher& dispatcher = session_->dispatcher();
  const bool admitted = dispatcher.admit();
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
    if (messages != 1) {
      if (admitted) dispatcher.release();
      fail_request(grpc::Status(grpc::StatusCode::INTERNAL,
                                messages == 0 ? "the client sent no request message"
                                              : "a unary call got several requests"));
      return;
    }
    if (!admitted || call_method_->inline_handler) {
      serve_unary(admitted, std::move(request));
    } else {
      boost::asio::post(dispatcher.pool(),
                        [self, admitted, request = std::move(request)]() mutable {
                          // Calls posted together (one client's burst) see the budget only now:
                          // past it this one goes back to wait, its request with it.
                          if (self->session_->over_budget())
                            return self->requeue(admitted, std::move(request));
                          self->serve_unary(admitted, std::move(request));
                        });
    }
    return;
  }
  boost::asio::post(dispatcher.pool(), [self, admitted] {
    Dispatcher& dispatcher = self->session_->dispatcher();
    const grpc::Status status = dispatcher.run_stream(*self->call_method_, *self, *self, admitted);
    if (admitted) dispatcher.release();
    self->finish(status);
  });
}

void Stream::requeue(bool admitted, std::string request) {
  if (admitted) session_->dispatcher().release();
  on_io([this, request = std::move(request)]() mutable {
    {
      std::lock_guard lock(mutex_);
      inbox_bytes_ += request.size();
      inbox_.push_front({std::move(request), last_compressed_.load()});
    }
    started_ = false;
    session_->park(shared_from_this());
  });
}

void Stream::serve_unary(bool admitted, std::string request) {
  Dispatcher& dispatcher = session_->dispatcher();
  std::string response;
  grpc::Status status = dispatcher.run_unary(*call_method_, *this, request, response, admitted);
  if (status.ok() && !write(response, WriteOptions{.last_message = true}) && !cancelled_) {
    status = grpc::Status(grpc::StatusCode::CANCELLED, "the call ended");
  }
  if (admitted) dispatcher.release();
  finish(status);
}

// ---------------------------------------------------------------- the response (handler side)

bool Stream::read(std::string& message) {
  std::unique_lock lock(mutex_);
  changed_.wait(lock, [&] {
    return !inbox_.empty() || request_ended_ || cancelled_ || closed_ || finished_;
  });
  if (inbox_.empty()) return false;
  message = std::move(inbox_.front().bytes);
  last_compressed_ = inbox_.front().compressed;
  inbox_.pop_front();
  inbox_bytes_ -= message.size();
  if (uncredited_ > 0 && inbox_bytes_ < kStreamInboxLimit) {
    on_io([this] {
      std::lock_guard guard(mutex_);
      if (closed_) return;
      credit_locked();
      session_->request_write();
    });
  }
  return true;
}

bool Stream::write(std::string_view message, const WriteOptions& options) {
  std::unique_lock lock(mutex_);
  if (cancelled_ || closed_ || finished_ || last_pending_ || write_error_) return false;
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
  if (options.last_message) {
    last_pending_ = true;  // leaves with the status
    return true;
  }
  lock.unlock();
  on_io([this] {
    {
      std::lock_guard guard(mutex_);  // released before nghttp2 runs: it calls read_response()
      if (closed_) return;
      if (!headers_sent_)
        submit_headers_locked(false);
      else
        session_->resume(id_);
    }
    session_->request_write();
  });
  lock.lock();
  if (options.buffer_hint && outbox_.size() - sent_ < kOutboxLimit) return true;
  // Bounded memory: wait until nghttp2 (within flow control) has taken the bytes.
  changed_.wait(lock, [&] { return sent_ == outbox_.size() || cancelled_ || closed_; });
  return !cancelled_ && !closed_;
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
    changed_.notify_all();
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
  changed_.notify_all();
  on_io([this] {
    if (deadline_timer_) deadline_timer_->cancel();
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
  session_->remove_unsent(n);
  if (sent_ == outbox_.size()) changed_.notify_all();
  if (n > 0) return static_cast<ssize_t>(n);
  if (!finished_) return NGHTTP2_ERR_DEFERRED;
  *flags |= NGHTTP2_DATA_FLAG_EOF | NGHTTP2_DATA_FLAG_NO_END_STREAM;
  HeaderBlock trailers;
  trailers.add_trailers(status_, trailing_);
  nghttp2_submit_trailer(session_->raw(), id_, trailers.data(), trailers.size());
  return 0;
}

}  // namespace gryphon::internal::native
