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

#include "gryphon/context.h"
#include "gryphon/detail/async_scope.h"

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

}  // namespace gryphon
