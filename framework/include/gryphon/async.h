// Async handlers: C++20 coroutines that run on the event loop owning their call's connection and
// hold no thread while they wait.
//
// A generated `<Service>AsyncHandler` declares each method as a coroutine returning
// `gryphon::Task<grpc::Status>`; register it with `server.add_service<Impl>()` like a synchronous
// handler. Inside, `co_await` what the call waits for:
//   - `co_await gryphon::sleep_for(context, 20ms)`: a timer (false if the call ended first);
//   - any Boost.Asio asynchronous operation, with `gryphon::use_task` as its completion token
//     (sockets, resolvers, timers, a Redis or HTTP client built on Asio): see the README,
//     "Async handlers", for the recipe that ends such an operation when the call is cancelled.
// Never block in an async handler: it shares its loop with every call of its connections.
//
// g++ 12 (Debian 12's compiler) miscompiles a co_await written inside the condition of an if,
// while or for: the coroutine crashes (SIGILL) or spins forever once the awaited operation really
// suspends (tests/unit/toolchain holds the reproducer). Assign the result first — an
// init-statement or an assignment is fine:
//   const bool slept = co_await gryphon::sleep_for(context, 20ms);
//   if (!slept) co_return grpc::Status(grpc::StatusCode::CANCELLED, "the call ended");
//   for (bool more = co_await reader.read(&request); more; more = co_await reader.read(&request))
//     ...
//
// Task is Boost.Asio's awaitable (Boost 1.74): any Asio operation is awaitable with use_task,
// and Asio recycles coroutine frames per thread. This header includes <utility> before Asio's
// awaitable header, which needs std::exchange and does not include it before Boost 1.79.
#pragma once

#include <utility>
// clang-format off: <utility> must come first (above)
#include <boost/asio/awaitable.hpp>
#include <boost/asio/use_awaitable.hpp>
// clang-format on
#include <chrono>
#include <functional>
#include <string>

#include "gryphon/context.h"
#include "gryphon/detail/async_scope.h"
#include "gryphon/detail/async_stream.h"
#include "gryphon/write_options.h"

namespace gryphon {

template <class T = void>
using Task = boost::asio::awaitable<T>;

// The completion token that makes an Asio asynchronous operation awaitable in a Task.
inline constexpr boost::asio::use_awaitable_t<> use_task{};

// Waits `duration` on the call's loop. True when it passed; false, as soon as it happens, when
// the call ends first (the client cancels or goes away, the deadline passes, the worker's drain
// ends it). Only in an async handler's call.
Task<bool> sleep_for(Context& context, std::chrono::nanoseconds duration);

// What ends a foreign Asio operation when the call ends: `hook` runs on the call's loop if the
// call is cancelled (client, deadline, drain) while the returned guard lives; if it already is,
// as soon as the handler next suspends — on the operation it guards. The recipe for any
// operation with a completion token:
//   boost::asio::ip::tcp::socket socket(co_await boost::asio::this_coro::executor);
//   const auto guard = gryphon::when_cancelled(context, [&socket] { socket.cancel(); });
//   boost::system::error_code error;
//   const std::size_t n = co_await socket.async_read_some(
//       buffer, boost::asio::redirect_error(gryphon::use_task, error));
//   // error == boost::asio::error::operation_aborted: the call ended while it waited
// Keep the I/O object alive until the guard is gone (declare it first). Only in an async
// handler's call.
using CancelGuard = detail::AsyncScope::Subscription;
[[nodiscard]] CancelGuard when_cancelled(Context& context, std::function<void()> hook);

// The typed streams an async handler's streaming methods get. Each operation suspends the
// coroutine, never a thread: a read until a message, the client's half-close or the call's end
// (at most --stream-idle-timeout without a message); a write until the previous message has left
// — so it waits while the client's flow-control window is closed, and memory stays bounded — at
// most --stream-write-timeout while the client reads nothing. False once the call ended
// (cancelled, deadline passed, client gone, a timeout): the handler should then return.
// One read and one write may be awaited at once (say, a reader and a writer coroutine of one bidi
// call); two reads, or two writes, may not.
template <class W>
class AsyncWriter {
 public:
  explicit AsyncWriter(detail::AsyncStream& stream) : stream_(stream) {}
  Task<bool> write(const W& message, WriteOptions options = {}) {
    if (!message.SerializeToString(&buffer_)) co_return false;
    co_return co_await stream_.write(buffer_, options);
  }
  // Sends the response headers now, so a client waiting for them need not wait for data.
  Task<bool> send_initial_metadata() { return stream_.send_initial_metadata(); }

 private:
  detail::AsyncStream& stream_;
  std::string buffer_;  // keeps its capacity from message to message
};

template <class R>
class AsyncReader {
 public:
  explicit AsyncReader(detail::AsyncStream& stream) : stream_(stream) {}
  // The next message into `*message`; false once the client has finished sending (or the call
  // ended, or the message did not parse: then the call ends INTERNAL).
  Task<bool> read(R* message) {
    const bool got = co_await stream_.read(buffer_);
    if (!got) co_return false;
    if (message->ParseFromString(buffer_)) co_return true;
    failed_ = true;
    co_return false;
  }
  Task<bool> send_initial_metadata() { return stream_.send_initial_metadata(); }
  bool failed() const { return failed_; }

 private:
  detail::AsyncStream& stream_;
  std::string buffer_;
  bool failed_ = false;
};

template <class W, class R>
class AsyncReaderWriter {
 public:
  explicit AsyncReaderWriter(detail::AsyncStream& stream) : writer_(stream), reader_(stream) {}
  Task<bool> write(const W& message, WriteOptions options = {}) {
    return writer_.write(message, options);
  }
  Task<bool> read(R* message) { return reader_.read(message); }
  Task<bool> send_initial_metadata() { return writer_.send_initial_metadata(); }
  bool failed() const { return reader_.failed(); }

 private:
  AsyncWriter<W> writer_;
  AsyncReader<R> reader_;
};

}  // namespace gryphon
