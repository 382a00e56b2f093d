// Downstream calls: a handler calling another gRPC service, carrying its own call's context.
//
// A channel per downstream service, made with gryphon::connect() in a handler's constructor:
// gryphon constructs handlers in each worker, after fork, so every worker has its own channel and
// connections (gRPC's state must not cross a fork; the master never makes one). A call made with
// a serving Context carries, from it:
//   - the deadline: the sooner of the caller's and CallOptions::timeout (a call whose deadline
//     has passed is answered DEADLINE_EXCEEDED without being sent);
//   - cancellation: the serving call ending (its client cancels, its deadline passes, the drain's
//     grace ends) cancels its downstream calls at once;
//   - x-request-id, the serving call's request id;
//   - W3C trace context: `traceparent` with the serving call's trace id (the client's, or one
//     gryphon starts) and a new span id per downstream call, and the client's `tracestate`.
// An async handler awaits a call (`co_await gryphon::unary_call(...)`, or the generated
// <Service>Client's methods); a sync handler calls the blocking form, which waits on its pool
// thread. Both ride gRPC C++'s client on one completion-queue thread per worker
// ("gryphon-client"); an awaiting coroutine is resumed on its own loop.
#pragma once

#include <utility>
// clang-format off: <utility> must come first (gryphon/async.h)
#include <boost/asio/awaitable.hpp>
// clang-format on
#include <grpcpp/channel.h>
#include <grpcpp/client_context.h>
#include <grpcpp/completion_queue.h>
#include <grpcpp/generic/generic_stub.h>
#include <grpcpp/impl/codegen/proto_utils.h>  // SerializationTraits of protobuf messages
#include <grpcpp/support/async_unary_call.h>
#include <grpcpp/support/status.h>

#include <boost/asio/post.hpp>
#include <boost/asio/redirect_error.hpp>
#include <boost/asio/steady_timer.hpp>
#include <boost/asio/this_coro.hpp>
#include <chrono>
#include <future>
#include <memory>
#include <optional>
#include <string>
#include <utility>
#include <vector>

#include "gryphon/async.h"
#include "gryphon/context.h"

namespace gryphon {

struct ChannelOptions {
  bool tls = false;
  // With tls: the CA certificates (PEM) to verify the server by; empty: the system's roots.
  std::string ca_file;
  // With tls: the name to verify the server's certificate against, when not the target's host.
  std::string server_name;
};

// A channel to `target` ("host:port", "dns:///host:port", "unix:/path"). Call it in a handler's
// constructor (in the worker), never before Server::run(). Throws std::runtime_error when
// `ca_file` cannot be read.
std::shared_ptr<grpc::Channel> connect(const std::string& target,
                                       const ChannelOptions& options = {});

struct CallOptions {
  // This call's own limit; the caller's deadline still applies when it is sooner. 0: none.
  std::chrono::milliseconds timeout{0};
  // Metadata to send besides what is carried over (lower-case keys).
  std::vector<std::pair<std::string, std::string>> metadata;
};

namespace detail {

// The completion queue of this worker's downstream calls and its thread, made on first use.
grpc::CompletionQueue* client_queue();

// What the client thread completes: a call's Finish.
class ClientTag {
 public:
  virtual ~ClientTag() = default;
  virtual void done(bool ok) = 0;
};

// Fills `to` from the serving call `from` and `options` (see above); the status to answer with
// at once instead of calling (the deadline has passed, the serving call is over), or nullopt.
std::optional<grpc::Status> carry(Context& from, grpc::ClientContext& to,
                                  const CallOptions& options);

template <class Response>
struct UnaryCall final : ClientTag, std::enable_shared_from_this<UnaryCall<Response>> {
  explicit UnaryCall(boost::asio::any_io_executor executor) : woken(std::move(executor)) {}
  void done(bool) override {
    // On the client thread: resume the coroutine on its own loop. The call stays alive until then.
    auto self = std::move(keep);
    boost::asio::post(woken.get_executor(), [self] {
      self->finished = true;
      self->woken.cancel();
    });
  }
  grpc::ClientContext context;
  Response response;
  grpc::Status status;
  std::unique_ptr<grpc::ClientAsyncResponseReader<Response>> reader;
  boost::asio::steady_timer woken;  // an event: cancelled when the call finished
  bool finished = false;
  std::shared_ptr<UnaryCall> keep;  // set while the call is on the completion queue
};

template <class Response>
struct BlockingCall final : ClientTag {
  void done(bool) override { finished.set_value(); }
  grpc::ClientContext context;
  Response response;
  grpc::Status status;
  std::unique_ptr<grpc::ClientAsyncResponseReader<Response>> reader;
  std::promise<void> finished;
};

// Sends `request` on `call` (a UnaryCall or a BlockingCall); `call.done()` runs on the client
// thread once its status is in.
template <class Request, class Call>
void start_unary(const std::shared_ptr<grpc::Channel>& channel, const std::string& method,
                 const Request& request, Call& call) {
  using Response = decltype(call.response);
  grpc::TemplatedGenericStub<Request, Response> stub(channel);
  call.reader = stub.PrepareUnaryCall(&call.context, method, request, client_queue());
  call.reader->StartCall();
  call.reader->Finish(&call.response, &call.status, static_cast<ClientTag*>(&call));
}

// How often a blocking call looks at whether its serving call was cancelled.
inline constexpr std::chrono::milliseconds kBlockingCancelCheck{20};

}  // namespace detail

// Calls the unary method `method` ("/package.Service/Method") on `channel`, carrying `from`
// (see the top of this file); `response` is set when the status is OK. In an async handler only.
// `channel` and `method` are taken by value: the coroutine starts when it is awaited, maybe after
// the caller's temporaries are gone; `from`, `request` and `response` must outlive the await.
template <class Request, class Response>
Task<grpc::Status> unary_call(std::shared_ptr<grpc::Channel> channel, std::string method,
                              Context& from, const Request& request, Response& response,
                              CallOptions options = {}) {
  auto call =
      std::make_shared<detail::UnaryCall<Response>>(co_await boost::asio::this_coro::executor);
  if (auto refused = detail::carry(from, call->context, options)) co_return *refused;
  const auto guard = when_cancelled(from, [call] { call->context.TryCancel(); });
  call->keep = call;
  detail::start_unary(channel, method, request, *call);
  while (!call->finished) {
    call->woken.expires_at(boost::asio::steady_timer::time_point::max());
    boost::system::error_code error;
    co_await call->woken.async_wait(boost::asio::redirect_error(use_task, error));
  }
  if (call->status.ok()) response = std::move(call->response);
  co_return call->status;
}

// The same from a synchronous handler: waits on the calling thread.
template <class Request, class Response>
grpc::Status unary_call_blocking(const std::shared_ptr<grpc::Channel>& channel,
                                 const std::string& method, Context& from, const Request& request,
                                 Response& response, CallOptions options = {}) {
  detail::BlockingCall<Response> call;
  if (auto refused = detail::carry(from, call.context, options)) return *refused;
  detail::start_unary(channel, method, request, call);
  auto finished = call.finished.get_future();
  bool cancelled = false;
  while (finished.wait_for(detail::kBlockingCancelCheck) != std::future_status::ready) {
    if (!cancelled && from.is_cancelled()) {
      call.context.TryCancel();
      cancelled = true;
    }
  }
  if (call.status.ok()) response = std::move(call.response);
  return call.status;
}

}  // namespace gryphon
