#include "transport/native/native_transport.h"

#include <arpa/inet.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <sys/socket.h>
#include <unistd.h>

#include <nghttp2/nghttp2.h>

#include <boost/asio/executor_work_guard.hpp>
#include <boost/asio/post.hpp>
#include <boost/asio/posix/stream_descriptor.hpp>
#include <boost/asio/steady_timer.hpp>
#include <boost/asio/write.hpp>
#include <condition_variable>
#include <deque>
#include <future>
#include <map>
#include <mutex>
#include <set>
#include <thread>

#include "observability/logging.h"
#include "transport/native/grpc_wire.h"
#include "transport/readiness.h"

namespace gryphon::internal {
namespace {

using Clock = std::chrono::steady_clock;
class Connection;

// One gRPC call on one HTTP/2 stream. Request side filled by the I/O thread; the handler (on the
// pool, or inline on the I/O thread) reads and writes through the blocking RawStream methods,
// which hand work to the I/O thread and wait for it.
class Stream final : public detail::ServerCall,
                     public RawStream,
                     public std::enable_shared_from_this<Stream> {
 public:
  Stream(std::shared_ptr<Connection> connection, std::int32_t id)
      : connection_(std::move(connection)), id_(id) {}

  // ---- ServerCall
  const std::string& peer() override;
  std::optional<std::string_view> find_metadata(std::string_view key) const override {
    auto it = metadata_.find(std::string(key));
    if (it == metadata_.end()) return std::nullopt;
    return std::string_view(it->second);
  }
  std::vector<std::string_view> metadata_values(std::string_view key) const override {
    std::vector<std::string_view> values;
    const auto [first, last] = metadata_.equal_range(std::string(key));
    for (auto it = first; it != last; ++it) values.emplace_back(it->second);
    return values;
  }
  std::chrono::system_clock::time_point deadline() const override { return deadline_; }
  bool cancelled() const override { return cancelled_.load(); }
  void add_initial_metadata(const std::string& key, const std::string& value) override {
    std::lock_guard lock(mutex_);
    initial_.emplace_back(key, value);
  }
  void add_trailing_metadata(const std::string& key, const std::string& value) override {
    std::lock_guard lock(mutex_);
    trailing_.emplace_back(key, value);
  }
  void set_compression(Compression algorithm) override {
    std::lock_guard lock(mutex_);
    if (!headers_sent_ && accepts(algorithm)) compression_ = algorithm;
  }

  // ---- RawStream (handler threads)
  bool read(std::string& message) override;
  bool write(std::string_view message, const WriteOptions& options) override;
  bool send_initial_metadata() override;

  // ---- I/O thread
  std::int32_t id() const { return id_; }
  void on_header(std::string_view name, std::string_view value);
  // The request headers are complete: validate and start the call. False: answered already.
  void on_headers_end();
  void on_data(const std::uint8_t* data, std::size_t size);
  void on_end_of_request();
  void on_closed(std::uint32_t error_code);
  // The call's outcome, from the handler side (any thread).
  void finish(const grpc::Status& status);
  ssize_t read_response(std::uint8_t* buffer, std::size_t length, std::uint32_t* flags);

 private:
  friend class Connection;
  bool accepts(Compression algorithm) const;
  void start_call();
  void fail_request(const grpc::Status& status);
  void submit_headers_locked(bool trailers_only, const grpc::Status* status);
  void on_io(std::function<void()> work);
  std::vector<std::pair<std::string, std::string>> trailers_for(const grpc::Status& status);

  std::shared_ptr<Connection> connection_;
  std::int32_t id_;
  std::string method_, path_, content_type_, encoding_, accept_encoding_;
  std::multimap<std::string, std::string> metadata_;
  std::chrono::system_clock::time_point deadline_ = std::chrono::system_clock::time_point::max();
  std::string pending_;  // request bytes not yet split into messages
  const Method* call_method_ = nullptr;
  bool started_ = false;
  bool request_failed_ = false;
  std::unique_ptr<boost::asio::steady_timer> deadline_timer_;

  mutable std::mutex mutex_;
  std::condition_variable changed_;
  std::deque<std::string> inbox_;  // request messages for read()
  bool request_ended_ = false;
  std::atomic<bool> cancelled_{false};
  bool closed_ = false;        // the HTTP/2 stream is gone
  bool headers_sent_ = false;  // submitted to nghttp2
  bool finished_ = false;      // status known
  bool last_pending_ = false;  // a last_message write waits for the status
  grpc::Status status_;
  Compression compression_ = Compression::kNone;
  std::string outbox_;  // framed response bytes nghttp2 has not taken yet
  std::vector<std::pair<std::string, std::string>> initial_, trailing_;
};

// One HTTP/2 connection: its socket, nghttp2 session and streams, on the I/O thread.
class Connection final : public std::enable_shared_from_this<Connection> {
 public:
  Connection(boost::asio::io_context& io, int fd, Dispatcher& dispatcher, const Config& config,
             std::string peer, std::function<void()> on_close)
      : io_(io),
        socket_(io, fd),
        dispatcher_(dispatcher),
        config_(config),
        peer_(std::move(peer)),
        on_close_(std::move(on_close)) {}
  ~Connection() {
    if (session_ != nullptr) nghttp2_session_del(session_);
  }

  void set_on_close(std::function<void()> on_close) { on_close_ = std::move(on_close); }
  void start();
  void drain();  // two-step GOAWAY
  void close();
  void flush();  // writes what nghttp2 has to send
  void resume(std::int32_t id) {
    if (session_ != nullptr) nghttp2_session_resume_data(session_, id);
  }
  void reset(std::int32_t id, std::uint32_t code) {
    if (session_ != nullptr) nghttp2_submit_rst_stream(session_, NGHTTP2_FLAG_NONE, id, code);
  }
  nghttp2_session* session() { return session_; }
  boost::asio::io_context& io() { return io_; }
  Dispatcher& dispatcher() { return dispatcher_; }
  const Config& config() const { return config_; }
  const std::string& peer() const { return peer_; }

 private:
  static int on_begin_headers(nghttp2_session*, const nghttp2_frame* frame, void* user);
  static int on_header(nghttp2_session*, const nghttp2_frame* frame, const std::uint8_t* name,
                       std::size_t namelen, const std::uint8_t* value, std::size_t valuelen,
                       std::uint8_t, void* user);
  static int on_frame_recv(nghttp2_session*, const nghttp2_frame* frame, void* user);
  static int on_data_chunk(nghttp2_session*, std::uint8_t, std::int32_t id,
                           const std::uint8_t* data, std::size_t len, void* user);
  static int on_stream_close(nghttp2_session*, std::int32_t id, std::uint32_t error_code,
                             void* user);
  void read_more();
  Stream* find(std::int32_t id) {
    auto it = streams_.find(id);
    return it == streams_.end() ? nullptr : it->second.get();
  }

  boost::asio::io_context& io_;
  boost::asio::posix::stream_descriptor socket_;
  Dispatcher& dispatcher_;
  const Config& config_;
  std::string peer_;
  std::function<void()> on_close_;
  nghttp2_session* session_ = nullptr;
  std::map<std::int32_t, std::shared_ptr<Stream>> streams_;
  std::array<std::uint8_t, 16384> read_buffer_{};
  std::string write_buffer_;
  bool writing_ = false;
  bool closed_ = false;
  bool draining_ = false;
};

// ---------------------------------------------------------------- Stream

const std::string& Stream::peer() {
  return connection_->peer();
}

bool Stream::accepts(Compression algorithm) const {
  if (algorithm == Compression::kNone) return true;
  const std::string_view name = algorithm == Compression::kGzip ? "gzip" : "deflate";
  return accept_encoding_.find(name) != std::string::npos;
}

void Stream::on_io(std::function<void()> work) {
  boost::asio::post(connection_->io(),
                    [self = shared_from_this(), work = std::move(work)] { work(); });
}

void Stream::on_header(std::string_view name, std::string_view value) {
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
    if (const auto timeout = parse_grpc_timeout(value))
      deadline_ = std::chrono::system_clock::now() + *timeout;
  }
  if (!name.empty() && name[0] == ':') return;
  if (name == "te" || name == "content-type" || name == "grpc-timeout") return;
  std::string text(value);
  if (name.size() > 4 && name.substr(name.size() - 4) == "-bin") text = base64_decode(value);
  metadata_.emplace(std::string(name), std::move(text));
}

void Stream::fail_request(const grpc::Status& status) {
  request_failed_ = true;
  finish(status);
}

void Stream::on_headers_end() {
  if (method_ != "POST") {
    // Not gRPC: an HTTP answer, no grpc-status.
    const nghttp2_nv headers[] = {
        {(std::uint8_t*)":status", (std::uint8_t*)"405", 7, 3, NGHTTP2_NV_FLAG_NONE}};
    nghttp2_submit_response(connection_->session(), id_, headers, 1, nullptr);
    request_failed_ = true;
    finished_ = true;
    return;
  }
  if (content_type_.rfind("application/grpc", 0) != 0) {
    const nghttp2_nv headers[] = {
        {(std::uint8_t*)":status", (std::uint8_t*)"415", 7, 3, NGHTTP2_NV_FLAG_NONE}};
    nghttp2_submit_response(connection_->session(), id_, headers, 1, nullptr);
    request_failed_ = true;
    finished_ = true;
    return;
  }
  Dispatcher& dispatcher = connection_->dispatcher();
  call_method_ = dispatcher.find(path_);
  if (deadline_ != std::chrono::system_clock::time_point::max()) {
    deadline_timer_ = std::make_unique<boost::asio::steady_timer>(connection_->io());
    deadline_timer_->expires_after(deadline_ - std::chrono::system_clock::now());
    deadline_timer_->async_wait([self = shared_from_this()](const boost::system::error_code& ec) {
      if (ec) return;
      self->cancelled_ = true;
      self->finish(grpc::Status(grpc::StatusCode::DEADLINE_EXCEEDED, "deadline exceeded"));
      self->changed_.notify_all();
    });
  }
  if (call_method_ == nullptr) {
    const grpc::Status status =
        dispatcher.run_unknown(dispatcher.unknown_method(path_), *this, path_);
    finish(status);
    return;
  }
  // A streaming call starts now; a unary one once its request is complete.
  if (call_method_->def.type != RpcType::kUnary) start_call();
}

void Stream::on_data(const std::uint8_t* data, std::size_t size) {
  if (request_failed_ || finished_) return;
  pending_.append(reinterpret_cast<const char*>(data), size);
  std::string message;
  while (true) {
    const FrameResult result =
        take_message(pending_, connection_->config().max_receive_message_size, encoding_, &message);
    if (result.status) {
      fail_request(*result.status);
      connection_->reset(id_, NGHTTP2_CANCEL);
      return;
    }
    if (!result.complete) break;
    {
      std::lock_guard lock(mutex_);
      inbox_.push_back(std::move(message));
    }
    changed_.notify_all();
  }
}

void Stream::on_end_of_request() {
  if (request_failed_ || finished_) return;
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

void Stream::start_call() {
  if (started_) return;
  started_ = true;
  Dispatcher& dispatcher = connection_->dispatcher();
  const bool admitted = dispatcher.admit();
  auto self = shared_from_this();
  if (call_method_->def.type == RpcType::kUnary) {
    std::string request;
    {
      std::lock_guard lock(mutex_);
      if (inbox_.size() != 1) {
        if (admitted) dispatcher.release();
        fail_request(grpc::Status(grpc::StatusCode::INTERNAL,
                                  inbox_.empty() ? "the client sent no request message"
                                                 : "a unary call got several requests"));
        return;
      }
      request = std::move(inbox_.front());
      inbox_.clear();
    }
    auto serve = [self, admitted, request = std::move(request)] {
      Dispatcher& dispatcher = self->connection_->dispatcher();
      std::string response;
      grpc::Status status =
          dispatcher.run_unary(*self->call_method_, *self, request, response, admitted);
      if (status.ok()) {
        const bool written = self->write(response, WriteOptions{.last_message = true});
        if (!written && !self->cancelled_)
          status = grpc::Status(grpc::StatusCode::CANCELLED, "the call ended");
      }
      if (admitted) dispatcher.release();
      self->finish(status);
    };
    if (!admitted || call_method_->inline_handler) {
      serve();
    } else {
      boost::asio::post(dispatcher.pool(), std::move(serve));
    }
    return;
  }
  boost::asio::post(dispatcher.pool(), [self, admitted] {
    Dispatcher& dispatcher = self->connection_->dispatcher();
    const grpc::Status status = dispatcher.run_stream(*self->call_method_, *self, *self, admitted);
    if (admitted) dispatcher.release();
    self->finish(status);
  });
}

bool Stream::read(std::string& message) {
  std::unique_lock lock(mutex_);
  changed_.wait(lock, [&] {
    return !inbox_.empty() || request_ended_ || cancelled_ || closed_ || finished_;
  });
  if (inbox_.empty()) return false;
  message = std::move(inbox_.front());
  inbox_.pop_front();
  return true;
}

bool Stream::write(std::string_view message, const WriteOptions& options) {
  std::unique_lock lock(mutex_);
  if (cancelled_ || closed_ || finished_ || last_pending_) return false;
  const bool compress = compression_ != Compression::kNone && !options.no_compression;
  std::string framed;
  if (!frame_message(message, compress ? compression_ : Compression::kNone, &framed)) return false;
  outbox_ += framed;
  if (options.last_message) {
    last_pending_ = true;  // leaves with the status
    return true;
  }
  lock.unlock();
  on_io([this] {
    {
      std::lock_guard guard(mutex_);  // released before flush(): nghttp2 calls read_response()
      if (closed_) return;
      if (!headers_sent_)
        submit_headers_locked(false, nullptr);
      else
        connection_->resume(id_);
    }
    connection_->flush();
  });
  if (options.buffer_hint) return true;
  // Bounded memory: wait until nghttp2 (within flow control) has taken the bytes.
  lock.lock();
  changed_.wait(lock, [&] { return outbox_.empty() || cancelled_ || closed_; });
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
      if (!closed_ && !headers_sent_) submit_headers_locked(false, nullptr);
    }
    connection_->flush();
    changed_.notify_all();
  });
  lock.lock();
  changed_.wait(lock, [&] { return headers_sent_ || cancelled_ || closed_; });
  return headers_sent_;
}

std::vector<std::pair<std::string, std::string>> Stream::trailers_for(const grpc::Status& status) {
  std::vector<std::pair<std::string, std::string>> out;
  out.emplace_back("grpc-status", std::to_string(static_cast<int>(status.error_code())));
  if (!status.error_message().empty())
    out.emplace_back("grpc-message", percent_encode(status.error_message()));
  for (auto& [key, value] : trailing_) {
    out.emplace_back(
        key, key.size() > 4 && key.substr(key.size() - 4) == "-bin" ? base64_encode(value) : value);
  }
  return out;
}

// Submits the response headers (or, trailers_only, headers that are also the trailers). Holding
// mutex_.
void Stream::submit_headers_locked(bool trailers_only, const grpc::Status* status) {
  std::vector<std::pair<std::string, std::string>> fields{{":status", "200"},
                                                          {"content-type", "application/grpc"}};
  if (compression_ != Compression::kNone)
    fields.emplace_back("grpc-encoding", compression_ == Compression::kGzip ? "gzip" : "deflate");
  fields.emplace_back("grpc-accept-encoding", "identity,deflate,gzip");
  for (auto& [key, value] : initial_) {
    fields.emplace_back(
        key, key.size() > 4 && key.substr(key.size() - 4) == "-bin" ? base64_encode(value) : value);
  }
  if (trailers_only) {
    for (auto& field : trailers_for(*status)) fields.push_back(std::move(field));
  }
  std::vector<nghttp2_nv> nv;
  for (auto& [key, value] : fields) {
    nv.push_back({(std::uint8_t*)key.data(), (std::uint8_t*)value.data(), key.size(), value.size(),
                  NGHTTP2_NV_FLAG_NONE});
  }
  nghttp2_data_provider provider{};
  provider.source.ptr = this;
  provider.read_callback = [](nghttp2_session*, std::int32_t, std::uint8_t* buf, std::size_t length,
                              std::uint32_t* flags, nghttp2_data_source* source, void*) -> ssize_t {
    return static_cast<Stream*>(source->ptr)->read_response(buf, length, flags);
  };
  nghttp2_submit_response(connection_->session(), id_, nv.data(), nv.size(),
                          trailers_only ? nullptr : &provider);
  headers_sent_ = true;
}

// nghttp2 asks for response bytes (I/O thread; mutex_ is not held by the caller).
ssize_t Stream::read_response(std::uint8_t* buffer, std::size_t length, std::uint32_t* flags) {
  std::lock_guard lock(mutex_);
  const std::size_t n = std::min(length, outbox_.size());
  std::memcpy(buffer, outbox_.data(), n);
  outbox_.erase(0, n);
  if (outbox_.empty()) changed_.notify_all();
  if (n > 0) return static_cast<ssize_t>(n);
  if (!finished_) return NGHTTP2_ERR_DEFERRED;
  *flags |= NGHTTP2_DATA_FLAG_EOF | NGHTTP2_DATA_FLAG_NO_END_STREAM;
  const auto trailers = trailers_for(status_);
  std::vector<nghttp2_nv> nv;
  for (auto& [key, value] : trailers) {
    nv.push_back({(std::uint8_t*)key.data(), (std::uint8_t*)value.data(), key.size(), value.size(),
                  NGHTTP2_NV_FLAG_NONE});
  }
  nghttp2_submit_trailer(connection_->session(), id_, nv.data(), nv.size());
  return 0;
}

void Stream::finish(const grpc::Status& status) {
  {
    std::lock_guard lock(mutex_);
    if (finished_) return;
    finished_ = true;
    status_ = status;
  }
  changed_.notify_all();
  on_io([this] {
    if (deadline_timer_) deadline_timer_->cancel();
    {
      std::lock_guard guard(mutex_);
      if (closed_) return;
      if (!headers_sent_ && outbox_.empty()) {
        submit_headers_locked(true, &status_);  // Trailers-Only
      } else if (!headers_sent_) {
        submit_headers_locked(false, nullptr);
      } else {
        connection_->resume(id_);
      }
    }
    connection_->flush();
  });
}

void Stream::on_closed(std::uint32_t error_code) {
  {
    std::lock_guard lock(mutex_);
    closed_ = true;
    if (!finished_) cancelled_ = true;  // the client went away (RST_STREAM) before the status
  }
  if (deadline_timer_) deadline_timer_->cancel();
  changed_.notify_all();
}

// ---------------------------------------------------------------- Connection

void Connection::start() {
  nghttp2_session_callbacks* callbacks;
  nghttp2_session_callbacks_new(&callbacks);
  nghttp2_session_callbacks_set_on_begin_headers_callback(callbacks, on_begin_headers);
  nghttp2_session_callbacks_set_on_header_callback(callbacks, on_header);
  nghttp2_session_callbacks_set_on_frame_recv_callback(callbacks, on_frame_recv);
  nghttp2_session_callbacks_set_on_data_chunk_recv_callback(callbacks, on_data_chunk);
  nghttp2_session_callbacks_set_on_stream_close_callback(callbacks, on_stream_close);
  nghttp2_option* option;
  nghttp2_option_new(&option);
  nghttp2_option_set_max_send_header_block_length(option, 1 << 20);
  nghttp2_session_server_new2(&session_, callbacks, this, option);
  nghttp2_option_del(option);
  nghttp2_session_callbacks_del(callbacks);
  std::vector<nghttp2_settings_entry> settings{
      {NGHTTP2_SETTINGS_INITIAL_WINDOW_SIZE, 1 << 20},
      {NGHTTP2_SETTINGS_MAX_HEADER_LIST_SIZE,
       static_cast<std::uint32_t>(config_.max_metadata_size)}};
  settings.push_back({NGHTTP2_SETTINGS_MAX_CONCURRENT_STREAMS,
                      static_cast<std::uint32_t>(config_.max_concurrent_streams > 0
                                                     ? config_.max_concurrent_streams
                                                     : 1000)});
  nghttp2_submit_settings(session_, NGHTTP2_FLAG_NONE, settings.data(), settings.size());
  nghttp2_session_set_local_window_size(session_, NGHTTP2_FLAG_NONE, 0, 16 << 20);
  flush();
  read_more();
}

void Connection::read_more() {
  socket_.async_read_some(
      boost::asio::buffer(read_buffer_),
      [self = shared_from_this()](const boost::system::error_code& ec, std::size_t n) {
        if (self->closed_) return;
        if (ec || nghttp2_session_mem_recv(self->session_, self->read_buffer_.data(), n) < 0) {
          self->close();
          return;
        }
        self->flush();
        self->read_more();
      });
}

void Connection::flush() {
  if (writing_ || closed_ || session_ == nullptr) return;
  write_buffer_.clear();
  // Everything nghttp2 has for this turn of the loop leaves in one write.
  while (true) {
    const std::uint8_t* data;
    const ssize_t n = nghttp2_session_mem_send(session_, &data);
    if (n <= 0) break;
    write_buffer_.append(reinterpret_cast<const char*>(data), static_cast<std::size_t>(n));
  }
  if (write_buffer_.empty()) {
    if (!nghttp2_session_want_read(session_) && !nghttp2_session_want_write(session_)) close();
    return;
  }
  writing_ = true;
  boost::asio::async_write(
      socket_, boost::asio::buffer(write_buffer_),
      [self = shared_from_this()](const boost::system::error_code& ec, std::size_t) {
        self->writing_ = false;
        if (ec) {
          self->close();
          return;
        }
        self->flush();
      });
}

void Connection::drain() {
  if (closed_ || draining_) return;
  draining_ = true;
  // Two-step: GOAWAY with the highest stream id and a PING; once the PING is answered every stream
  // the client started is known, and the real GOAWAY names the last one.
  nghttp2_submit_shutdown_notice(session_);
  nghttp2_submit_ping(session_, NGHTTP2_FLAG_NONE, nullptr);
  flush();
}

void Connection::close() {
  if (closed_) return;
  closed_ = true;
  for (auto& [id, stream] : streams_) stream->on_closed(NGHTTP2_CANCEL);
  streams_.clear();
  boost::system::error_code ignored;
  socket_.close(ignored);
  if (on_close_) on_close_();
}

int Connection::on_begin_headers(nghttp2_session*, const nghttp2_frame* frame, void* user) {
  auto* self = static_cast<Connection*>(user);
  if (frame->hd.type == NGHTTP2_HEADERS && frame->headers.cat == NGHTTP2_HCAT_REQUEST) {
    self->streams_[frame->hd.stream_id] =
        std::make_shared<Stream>(self->shared_from_this(), frame->hd.stream_id);
  }
  return 0;
}

int Connection::on_header(nghttp2_session*, const nghttp2_frame* frame, const std::uint8_t* name,
                          std::size_t namelen, const std::uint8_t* value, std::size_t valuelen,
                          std::uint8_t, void* user) {
  auto* self = static_cast<Connection*>(user);
  if (Stream* stream = self->find(frame->hd.stream_id)) {
    stream->on_header({reinterpret_cast<const char*>(name), namelen},
                      {reinterpret_cast<const char*>(value), valuelen});
  }
  return 0;
}

int Connection::on_frame_recv(nghttp2_session* session, const nghttp2_frame* frame, void* user) {
  auto* self = static_cast<Connection*>(user);
  if (frame->hd.type == NGHTTP2_PING && (frame->hd.flags & NGHTTP2_FLAG_ACK) && self->draining_) {
    nghttp2_submit_goaway(session, NGHTTP2_FLAG_NONE,
                          nghttp2_session_get_last_proc_stream_id(session), NGHTTP2_NO_ERROR,
                          nullptr, 0);
    return 0;
  }
  Stream* stream = self->find(frame->hd.stream_id);
  if (stream == nullptr) return 0;
  if (frame->hd.type == NGHTTP2_HEADERS && frame->headers.cat == NGHTTP2_HCAT_REQUEST)
    stream->on_headers_end();
  if ((frame->hd.type == NGHTTP2_HEADERS || frame->hd.type == NGHTTP2_DATA) &&
      (frame->hd.flags & NGHTTP2_FLAG_END_STREAM)) {
    stream->on_end_of_request();
  }
  return 0;
}

int Connection::on_data_chunk(nghttp2_session*, std::uint8_t, std::int32_t id,
                              const std::uint8_t* data, std::size_t len, void* user) {
  if (Stream* stream = static_cast<Connection*>(user)->find(id)) stream->on_data(data, len);
  return 0;
}

int Connection::on_stream_close(nghttp2_session*, std::int32_t id, std::uint32_t error_code,
                                void* user) {
  auto* self = static_cast<Connection*>(user);
  auto it = self->streams_.find(id);
  if (it == self->streams_.end()) return 0;
  it->second->on_closed(error_code);
  self->streams_.erase(it);
  return 0;
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

// ---------------------------------------------------------------- the transport

class NativeTransport final : public Transport {
 public:
  NativeTransport(const Config& config, Dispatcher& dispatcher)
      : config_(config), dispatcher_(dispatcher), work_(boost::asio::make_work_guard(io_)) {}
  ~NativeTransport() override { stop_thread(); }

  bool start(std::string*) override {
    thread_ = std::thread([this] { io_.run(); });
    return true;
  }

  void serve_connection(int fd, bool tcp) override {
    if (tcp) {
      const int one = 1;
      ::setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof(one));
    }
    ++open_;
    boost::asio::post(io_, [this, fd] {
      auto connection =
          std::make_shared<Connection>(io_, fd, dispatcher_, config_, describe_peer(fd), nullptr);
      connection->set_on_close([this, raw = connection.get()] {
        --open_;
        for (auto it = connections_.begin(); it != connections_.end(); ++it) {
          if (it->get() == raw) {
            connections_.erase(it);
            break;
          }
        }
      });
      connections_.insert(connection);
      if (draining_) connection->drain();
      connection->start();
    });
  }

  bool check_ready(std::chrono::milliseconds timeout, std::string* error) override {
    return check_readiness([this](int fd) { serve_connection(fd, false); }, timeout, error);
  }

  std::size_t open_connections() const override { return open_.load(); }

  void begin_drain() override {
    boost::asio::post(io_, [this] {
      draining_ = true;
      // A copy: a connection with nothing left to do closes inside drain(), which erases it.
      const auto all = connections_;
      for (const auto& connection : all) connection->drain();
    });
  }

  void stop(std::chrono::steady_clock::time_point) override {
    // Calls still running end now (their streams report closed); the loop then stops.
    std::promise<void> closed;
    boost::asio::post(io_, [this, &closed] {
      auto all = std::move(connections_);
      for (const auto& connection : all) connection->close();
      closed.set_value();
    });
    closed.get_future().wait();  // the I/O thread is never blocked for long: no deadline needed
    stop_thread();
  }

 private:
  void stop_thread() {
    work_.reset();
    if (thread_.joinable()) {
      io_.stop();
      thread_.join();
    }
  }

  const Config& config_;
  Dispatcher& dispatcher_;
  boost::asio::io_context io_;
  boost::asio::executor_work_guard<boost::asio::io_context::executor_type> work_;
  std::thread thread_;
  std::set<std::shared_ptr<Connection>> connections_;  // I/O thread only
  std::atomic<std::size_t> open_{0};
  bool draining_ = false;
};

}  // namespace

std::unique_ptr<Transport> make_native_transport(const Config& config, Dispatcher& dispatcher) {
  return std::make_unique<NativeTransport>(config, dispatcher);
}

}  // namespace gryphon::internal
