// The gRPC C++ transport's call objects: each registered method is added to the gRPC server as a
// *raw* async method (wire bytes, no gRPC-side parsing) and served from completion queues. Unary
// methods are registered as unary; the three streaming kinds as bidi streams (the same on the
// wire), so one code path reads, writes and finishes any stream. Calls to paths no method has
// arrive through a generic service. Each call object wraps its grpc::ServerContext in a
// detail::ServerCall and hands the call to the Dispatcher.
//
// Threading: a call object lives on the completion-queue thread that polls its queue; a handler
// on the pool blocks on each stream operation until that thread reports it complete.
#pragma once

#include <grpcpp/completion_queue.h>
#include <grpcpp/generic/async_generic_service.h>
#include <grpcpp/impl/codegen/service_type.h>

#include <boost/asio/io_context.hpp>
#include <atomic>
#include <chrono>
#include <deque>
#include <memory>
#include <string>
#include <vector>

#include "dispatch/dispatcher.h"

namespace gryphon::internal::grpc_transport {

// Every completion-queue tag is a Tag; the CQ threads call proceed() with the event's ok flag.
class Tag {
 public:
  virtual ~Tag() = default;
  virtual void proceed(bool ok) = 0;
};

// Finished call objects kept for the next calls to reuse, up to a bound. One per completion
// queue, used only by that queue's polling thread (or before the threads run): no lock.
class CallCache {
 public:
  explicit CallCache(std::size_t capacity) : capacity_(capacity) {}
  ~CallCache();
  CallCache(const CallCache&) = delete;
  CallCache& operator=(const CallCache&) = delete;

  Tag* take();
  // False when full: the caller deletes the object.
  bool put(Tag* call);

 private:
  std::vector<Tag*> free_;
  std::size_t capacity_;
};

// A grpc::Service whose methods are built at run time from the dispatcher's table, all raw and
// async.
class RawService final : public grpc::Service {
 public:
  explicit RawService(const std::vector<std::string>& paths, const std::vector<bool>& unary);
  using grpc::Service::RequestAsyncBidiStreaming;
  using grpc::Service::RequestAsyncUnary;

 private:
  std::deque<std::string> paths_;  // RpcServiceMethod keeps the pointer: addresses must be stable
};

// What every call object of one transport shares.
struct CallShared {
  Dispatcher& dispatcher;
  RawService& service;
  grpc::AsyncGenericService& unknown_service;
  std::atomic<bool> shutting_down{false};
  // A streaming call waits this long for its first message before it is cancelled, and a
  // handler's read() this long for each next one (0 = no limit).
  std::chrono::milliseconds first_message_timeout{0};
  std::chrono::milliseconds stream_idle_timeout{0};
  std::chrono::milliseconds stream_write_timeout{0};  // a stream write completes within it
  // A stream (not a built-in) that came without a deadline is cancelled after this; 0 = never.
  std::chrono::milliseconds default_stream_deadline{0};
};

// One queue's share: its queue and call cache.
struct Queue {
  grpc::ServerCompletionQueue* cq;
  CallCache* cache;
  // The event loop that runs this queue's async handlers' coroutines (nullptr: the server has
  // none); its thread is the transport's gryphon-async-N.
  boost::asio::io_context* loop = nullptr;
};

// Requests `count` calls of method `index` (its position in the dispatcher's table) on `queue`.
void request_calls(CallShared& shared, const Queue& queue, const BoundMethod& method, int index,
                   int count);
void request_unknown_calls(CallShared& shared, const Queue& queue, int count);

}  // namespace gryphon::internal::grpc_transport
