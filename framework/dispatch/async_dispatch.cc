// Dispatcher's async path: an async handler's call (unary or streaming) as a coroutine on its
// connection's loop, the chain around it as for a synchronous handler, and the operations
// gryphon/async.h offers it (its streams are in async_stream.cc).
#include "gryphon/async.h"  // first: it includes <utility> before Asio's awaitable header

#include <boost/asio/co_spawn.hpp>
#include <boost/asio/detached.hpp>
#include <boost/asio/redirect_error.hpp>
#include <boost/asio/steady_timer.hpp>
#include <optional>
#include <stdexcept>

#include "dispatch/context_access.h"
#include "dispatch/dispatcher.h"
#include "gryphon/detail/async_scope.h"

namespace gryphon::internal {

// What one async call holds while its coroutine may be suspended: everything the handler has
// references to. A streaming call has `stream`; a unary one, `request` and `response`.
struct Dispatcher::AsyncCall {
  AsyncCall(Dispatcher& dispatcher, const BoundMethod& method, detail::ServerCall& call,
            detail::AsyncRawStream* raw, std::string request, Admission admission,
            boost::asio::any_io_executor loop, AsyncDone done)
      : method(method),
        call(call),
        context(ContextAccess::make(call, dispatcher.draining_, dispatcher.options_.slot)),
        scope(std::move(loop)),
        request(std::move(request)),
        admission(std::move(admission)),
        done(std::move(done)) {
    if (raw != nullptr) stream.emplace(*raw, scope);
  }
  // A coroutine destroyed while suspended (its loop stopped at the worker's exit) leaves no hook
  // pointing at its scope or stream; `done` still holds the transport's call then. Once
  // answered, the call is the transport's again (gRPC C++ may already reuse it): not touched.
  ~AsyncCall() {
    if (!answered) call.on_cancel(nullptr);
  }

  const BoundMethod& method;
  detail::ServerCall& call;
  Context context;
  CallInfo info;
  detail::AsyncScope scope;
  std::optional<detail::AsyncStream> stream;  // after `scope`, which it subscribes to
  std::string request;
  std::string response;
  Admission admission;
  AsyncDone done;
  bool answered = false;
};

void Dispatcher::run_unary_async(const BoundMethod& method, detail::ServerCall& call,
                                 std::string request, Admission admission,
                                 boost::asio::any_io_executor loop, AsyncDone done) {
  auto state = std::make_unique<AsyncCall>(*this, method, call, nullptr, std::move(request),
                                           std::move(admission), loop, std::move(done));
  state->info.messages_received = 1;
  state->info.bytes_received = state->request.size();
  boost::asio::co_spawn(loop, drive(std::move(state)), boost::asio::detached);
}

void Dispatcher::run_stream_async(const BoundMethod& method, detail::ServerCall& call,
                                  detail::AsyncRawStream& stream, Admission admission,
                                  boost::asio::any_io_executor loop, AsyncDone done) {
  auto state = std::make_unique<AsyncCall>(*this, method, call, &stream, std::string(),
                                           std::move(admission), loop, std::move(done));
  boost::asio::co_spawn(loop, drive(std::move(state)), boost::asio::detached);
}

Task<void> Dispatcher::drive(std::unique_ptr<AsyncCall> call) {
  ContextAccess::set_async_scope(call->context, &call->scope);
  call->call.on_cancel([scope = &call->scope] { scope->cancel(); });
  grpc::Status status;
  const std::size_t ran = begin(call->method, call->context, call->info, status);
  // The transports cancel a call at the client's deadline; a --default-deadline is dispatch's,
  // so dispatch's timer wakes what the handler awaits then.
  std::optional<boost::asio::steady_timer> deadline;
  if (call->call.deadline() == std::chrono::system_clock::time_point::max() &&
      call->context.has_deadline()) {
    deadline.emplace(call->scope.executor(),
                     call->context.deadline() - std::chrono::system_clock::now());
    deadline->async_wait([scope = &call->scope](const boost::system::error_code& error) {
      if (!error) scope->cancel();
    });
  }
  if (status.ok()) {
    if (auto refused = not_started(call->admission, call->context)) {
      status = *refused;
    } else {
      std::exception_ptr failure;
      try {
        if (call->stream) {
          status = co_await call->method.def.async_stream(call->context, *call->stream);
        } else {
          status =
              co_await call->method.def.async_unary(call->context, call->request, call->response);
        }
      } catch (...) {
        failure = std::current_exception();
      }
      if (failure) status = threw(call->method, failure);
      if (call->stream) {
        co_await call->stream->flush();  // the status follows the last message
      } else if (status.ok()) {
        call->info.messages_sent = 1;
        call->info.bytes_sent = call->response.size();
      }
      status = as_seen_by_client(call->call, call->context, status);
    }
  }
  if (call->stream) {
    call->info.messages_received = call->stream->messages_read;
    call->info.bytes_received = call->stream->bytes_read;
    call->info.messages_sent = call->stream->messages_written;
    call->info.bytes_sent = call->stream->bytes_written;
    call->stream->detach();
  }
  end(call->method, call->info, ran, status);
  if (deadline) deadline->cancel();
  call->call.on_cancel(nullptr);
  stats_.served.fetch_add(1, std::memory_order_relaxed);
  call->answered = true;
  call->done(status, call->response);
}

}  // namespace gryphon::internal

namespace gryphon {

namespace {

detail::AsyncScope& scope_of(Context& context, const char* what) {
  detail::AsyncScope* scope = internal::ContextAccess::async_scope(context);
  if (scope == nullptr)
    throw std::logic_error(std::string(what) + " is for an async handler's Context");
  return *scope;
}

}  // namespace

CancelGuard when_cancelled(Context& context, std::function<void()> hook) {
  return scope_of(context, "gryphon::when_cancelled").subscribe(std::move(hook));
}

Task<bool> sleep_for(Context& context, std::chrono::nanoseconds duration) {
  detail::AsyncScope* scope = &scope_of(context, "gryphon::sleep_for");
  if (scope->cancelled() || context.is_cancelled()) co_return false;
  // A deadline that comes first cancels the scope (the transport's timer, or dispatch's for a
  // --default-deadline), which ends the wait.
  boost::asio::steady_timer timer(scope->executor(), duration);
  const auto woken = scope->subscribe([&timer] { timer.cancel(); });
  boost::system::error_code error;
  co_await timer.async_wait(boost::asio::redirect_error(use_task, error));
  co_return !error && !scope->cancelled();
}

}  // namespace gryphon
