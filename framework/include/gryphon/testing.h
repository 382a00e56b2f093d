// gryphon::testing: what a unit test of a handler needs to call it directly, with no server.
//
//   gryphon::testing::TestCall call;                  // a call made outside a server
//   call.metadata.emplace("x-tenant", "acme");        // what the client sent
//   MyHandler handler;
//   shop::Item item;
//   CHECK(handler.GetItem(call.context(), request, item).ok());
//   CHECK(call.initial_metadata.count("x-shard"));    // what the handler sent back
//
// An async handler's coroutine runs to its end on a private event loop with run():
//
//   CHECK(call.run(handler.GetItem(call.context(), request, item)).ok());
//   call.cancel_after = 50ms;  // plays a client that cancels while the handler waits
//
// RecordingWriter keeps what a streaming handler writes; ScriptedReader replays what a client
// sends; ScriptedStream is both, for bidi streams. TestStream does the same for an async
// handler's streams. `gryphon new` writes its tests with these.
#pragma once

#include "gryphon/async.h"  // first: it includes <utility> before Asio's awaitable header

#include <boost/asio/co_spawn.hpp>
#include <boost/asio/io_context.hpp>
#include <boost/asio/steady_timer.hpp>
#include <atomic>
#include <exception>
#include <functional>
#include <optional>
#include <chrono>
#include <deque>
#include <map>
#include <string>
#include <utility>
#include <vector>

#include "gryphon/context.h"
#include "gryphon/detail/async_scope.h"
#include "gryphon/handler.h"

namespace gryphon::testing {

class TestCall final : public detail::ServerCall {
 public:
  TestCall() : context_(*this, draining, /*slot=*/0) {}
  TestCall(const TestCall&) = delete;
  TestCall& operator=(const TestCall&) = delete;

  // The Context to pass to the handler.
  Context& context() { return context_; }

  // What the client sends: set before the call.
  std::multimap<std::string, std::string> metadata;  // keys lower-case
  std::chrono::system_clock::time_point client_deadline =
      std::chrono::system_clock::time_point::max();
  std::atomic<bool> client_cancelled{false};
  bool message_compressed = false;    // what Context::request_compressed() reports
  std::atomic<bool> draining{false};  // the worker is draining
  std::string client_peer = "ipv4:127.0.0.1:50000";
  // Set to play a transport that ended the call itself (a stream write past
  // --stream-write-timeout): the status the call ends with, whatever the handler returns.
  std::optional<grpc::Status> ended_by_server;

  // What the handler sent back: read after the call.
  std::multimap<std::string, std::string> initial_metadata;
  std::multimap<std::string, std::string> trailing_metadata;
  Compression compression = Compression::kNone;

  // Set before run(): the client cancels this long after the coroutine starts.
  std::optional<std::chrono::milliseconds> cancel_after;

  // Runs an async handler's coroutine (made with context()) on a private event loop until it
  // finishes, its timers in real time, and returns its status; what it throws comes out here.
  grpc::Status run(Task<grpc::Status> task) {
    boost::asio::io_context& loop = loop_;
    detail::AsyncScope& scope = scope_;
    loop.restart();
    context_.async_ = &scope;
    on_cancel([&scope] { scope.cancel(); });  // at once for a call already cancelled
    boost::asio::steady_timer canceller(loop);
    if (cancel_after) {
      canceller.expires_after(*cancel_after);
      canceller.async_wait([this](const boost::system::error_code& error) {
        if (!error) cancel();
      });
    }
    boost::asio::steady_timer deadline(loop);  // wakes what the coroutine awaits, as a server does
    if (client_deadline != std::chrono::system_clock::time_point::max()) {
      deadline.expires_after(client_deadline - std::chrono::system_clock::now());
      deadline.async_wait([&scope](const boost::system::error_code& error) {
        if (!error) scope.cancel();
      });
    }
    std::optional<grpc::Status> result;
    std::exception_ptr failure;
    boost::asio::co_spawn(loop, std::move(task),
                          [&](std::exception_ptr thrown, grpc::Status status) {
                            failure = thrown;
                            result = std::move(status);
                            canceller.cancel();
                            deadline.cancel();
                          });
    loop.run();
    context_.async_ = nullptr;
    on_cancel(nullptr);
    if (failure) std::rethrow_exception(failure);
    return *result;
  }

  // Plays the client cancelling now: cancelled_by_client() turns true and what an async handler
  // awaits wakes (call it on the thread running the handler's loop).
  void cancel() {
    client_cancelled = true;
    cancelled_now();
  }

  const std::string& peer() override { return client_peer; }
  std::optional<grpc::Status> ended_by_transport() const override { return ended_by_server; }
  std::optional<std::string_view> find_metadata(std::string_view key) const override {
    const auto it = metadata.find(std::string(key));
    if (it == metadata.end()) return std::nullopt;
    return std::string_view(it->second);
  }
  std::vector<std::string_view> metadata_values(std::string_view key) const override {
    std::vector<std::string_view> values;
    const auto [first, last] = metadata.equal_range(std::string(key));
    for (auto it = first; it != last; ++it) values.emplace_back(it->second);
    return values;
  }
  std::chrono::system_clock::time_point deadline() const override { return client_deadline; }
  bool cancelled() const override { return client_cancelled.load(); }
  bool request_compressed() const override { return message_compressed; }
  void add_initial_metadata(const std::string& key, const std::string& value) override {
    initial_metadata.emplace(key, value);
  }
  void add_trailing_metadata(const std::string& key, const std::string& value) override {
    trailing_metadata.emplace(key, value);
  }
  void set_compression(Compression algorithm) override { compression = algorithm; }

  // Where run() runs the coroutine (TestStream's streams live there too).
  detail::AsyncScope& scope() { return scope_; }

 private:
  Context context_;
  boost::asio::io_context loop_;
  detail::AsyncScope scope_{loop_.get_executor()};
};

// Keeps what a streaming handler writes.
template <class W>
class RecordingWriter : public ServerWriter<W> {
 public:
  using ServerWriter<W>::Write;
  bool Write(const W& message, WriteOptions options) override {
    written.push_back(message);
    write_options.push_back(options);
    return true;
  }
  bool SendInitialMetadata() override {
    headers_sent = true;
    return true;
  }
  std::vector<W> written;
  std::vector<WriteOptions> write_options;
  bool headers_sent = false;
};

// Replays a client's messages, then reports the end of the stream.
template <class R>
class ScriptedReader : public ServerReader<R> {
 public:
  explicit ScriptedReader(const std::vector<R>& script) : script_(script.begin(), script.end()) {}
  bool Read(R* message) override {
    if (script_.empty()) return false;
    *message = std::move(script_.front());
    script_.pop_front();
    return true;
  }
  bool SendInitialMetadata() override { return true; }

 private:
  std::deque<R> script_;
};

template <class W, class R>
class ScriptedStream : public ServerReaderWriter<W, R> {
 public:
  explicit ScriptedStream(const std::vector<R>& script) : reader_(script) {}
  using ServerWriter<W>::Write;
  bool Read(R* message) override { return reader_.Read(message); }
  bool Write(const W& message, WriteOptions options) override {
    return writer_.Write(message, options);
  }
  bool SendInitialMetadata() override { return writer_.SendInitialMetadata(); }
  const std::vector<W>& written() const { return writer_.written; }

 private:
  ScriptedReader<R> reader_;
  RecordingWriter<W> writer_;
};

// An async streaming handler's streams in a test: replays what a client sends (`script`, then
// the end of the stream) and keeps what the handler writes; no operation ever waits. Pass
// writer(), reader() or reader_writer() to the handler, in TestCall::run:
//   TestStream<shop::Item, shop::ListRequest> stream(call);
//   CHECK(call.run(handler.ListItems(call.context(), request, stream.writer())).ok());
//   CHECK(stream.written.size() == 3);
template <class W, class R = W>
class TestStream final : public detail::AsyncRawStream {
 public:
  explicit TestStream(TestCall& call, const std::vector<R>& script = {})
      : stream_(*this, call.scope()), writer_(stream_), reader_(stream_), reader_writer_(stream_) {
    for (const R& message : script) script_.push_back(message.SerializeAsString());
  }
  AsyncWriter<W>& writer() { return writer_; }
  AsyncReader<R>& reader() { return reader_; }
  AsyncReaderWriter<W, R>& reader_writer() { return reader_writer_; }

  std::vector<W> written;
  std::vector<WriteOptions> write_options;
  bool headers_sent = false;

  Poll poll_read(std::string& message) override {
    if (script_.empty()) return Poll::kEnded;
    message = std::move(script_.front());
    script_.pop_front();
    return Poll::kReady;
  }
  Poll poll_write(std::string_view message, const WriteOptions& options) override {
    W parsed;
    if (!parsed.ParseFromArray(message.data(), static_cast<int>(message.size())))
      return Poll::kEnded;
    written.push_back(std::move(parsed));
    write_options.push_back(options);
    headers_sent = true;
    return Poll::kReady;
  }
  Poll poll_send_initial_metadata() override {
    headers_sent = true;
    return Poll::kReady;
  }
  Poll poll_flushed() override { return Poll::kReady; }
  void on_wake(std::function<void()>) override {}
  std::uint64_t write_progress() const override { return written.size(); }
  Limits limits() const override { return {}; }
  void read_timed_out() override {}
  void write_timed_out() override {}

 private:
  std::deque<std::string> script_;
  detail::AsyncStream stream_;
  AsyncWriter<W> writer_;
  AsyncReader<R> reader_;
  AsyncReaderWriter<W, R> reader_writer_;
};

}  // namespace gryphon::testing
