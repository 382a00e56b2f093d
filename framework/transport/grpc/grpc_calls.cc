#include "transport/grpc/grpc_calls.h"

#include <grpcpp/impl/rpc_service_method.h>
#include <grpcpp/server_context.h>
#include <grpcpp/support/async_stream.h>
#include <grpcpp/support/async_unary_call.h>
#include <grpcpp/support/byte_buffer.h>

#include <boost/asio/post.hpp>
#include <optional>

#include "transport/grpc/grpc_call_parts.h"

namespace gryphon::internal::grpc_transport {

std::string_view bytes_of(const grpc::ByteBuffer& buffer, grpc::Slice& single, std::string& copy) {
  if (buffer.TrySingleSlice(&single).ok()) {
    return {reinterpret_cast<const char*>(single.begin()), single.size()};
  }
  copy.clear();
  std::vector<grpc::Slice> slices;
  if (buffer.Dump(&slices).ok()) {
    for (const auto& slice : slices)
      copy.append(reinterpret_cast<const char*>(slice.begin()), slice.size());
  }
  return copy;
}

grpc::ByteBuffer to_buffer(std::string_view bytes) {
  grpc::Slice slice(bytes.data(), bytes.size());
  return grpc::ByteBuffer(&slice, 1);
}

grpc::WriteOptions grpc_options(const WriteOptions& options) {
  grpc::WriteOptions out;
  if (options.no_compression) out.set_no_compression();
  if (options.buffer_hint) out.set_buffer_hint();
  return out;
}

namespace {

// A unary call. Its object is recycled: once a call is over it goes back to its queue's cache and
// the next request reuses it, as a raw async server reuses its call slots (the object is larger
// than the allocator's per-thread cache takes, so a new one per RPC was a measurable share of the
// per-call cost); its buffers keep their capacity.
class UnaryCall final : public Tag {
 public:
  static UnaryCall* make(CallShared& shared, const Queue& queue, const BoundMethod& method,
                         int index) {
    auto* call = static_cast<UnaryCall*>(queue.cache->take());
    if (call == nullptr) call = new UnaryCall(shared);
    call->method_ = &method;
    call->index_ = index;
    call->queue_ = queue;
    return call;
  }

  void request() {
    server_context_.emplace();
    responder_.emplace(&*server_context_);
    state_ = State::kRequested;
    refs_.store(1);
    // Blocking handlers may want context.is_cancelled(): that needs gRPC's done notification, an
    // extra completion per call that inline (non-blocking) handlers do without.
    if (!method_->inline_handler) {
      Tag* done = method_->def.is_async() ? static_cast<Tag*>(&async_done_) : &done_;
      server_context_->AsyncNotifyWhenDone(done);
      refs_.store(2);
    }
    shared_.service.RequestAsyncUnary(index_, &*server_context_, &request_, &*responder_, queue_.cq,
                                      queue_.cq, this);
  }

  void unref() {
    if (refs_.fetch_sub(1) == 1) recycle();
  }

  void proceed(bool ok) override {
    if (state_ == State::kFinishing) {
      admission_.reset();
      unref();
      return;
    }
    if (!ok) {  // the server is shutting down; this request never matched a call
      delete this;
      return;
    }
    if (!shared_.shutting_down.load(std::memory_order_relaxed))
      make(shared_, queue_, *method_, index_)->request();
    state_ = State::kFinishing;
    admission_ = shared_.dispatcher.admit(*method_);
    // An overloaded call is answered at once, still through the interceptors (logs, metrics).
    if (admission_ && method_->def.is_async()) {
      boost::asio::post(*queue_.loop, [this] { serve_async(); });
    } else if (Dispatcher::runs_on_io_thread(*method_, admission_)) {
      serve();
    } else {
      boost::asio::post(shared_.dispatcher.pool(), [this] { serve(); });
    }
  }

 private:
  enum class State { kRequested, kFinishing };

  explicit UnaryCall(CallShared& shared) : shared_(shared) {}

  // The queue's cache belongs to its CQ thread. An async handler's call can end on its loop's
  // thread (the done notification's reference drops there), so it is never cached.
  void recycle() {
    if (method_->def.is_async()) {
      delete this;
      return;
    }
    responder_.reset();
    server_context_.reset();
    request_.Clear();
    if (!queue_.cache->put(this)) delete this;
  }

  void serve() {
    call_.reset(&*server_context_, !method_->inline_handler);
    grpc::Slice single;
    const std::string_view request = bytes_of(request_, single, request_bytes_);
    response_bytes_.clear();
    const grpc::Status status =
        shared_.dispatcher.run_unary(*method_, call_, request, response_bytes_, admission_);
    if (status.ok()) {
      responder_->Finish(to_buffer(response_bytes_), status, this);
    } else {
      responder_->FinishWithError(status, this);
    }
  }

  // An async handler's call, on its queue's loop: the coroutine answers when it is done.
  void serve_async() {
    call_.reset(&*server_context_, true);
    grpc::Slice single;
    std::string request(bytes_of(request_, single, request_bytes_));
    shared_.dispatcher.run_unary_async(*method_, call_, std::move(request), std::move(admission_),
                                       queue_.loop->get_executor(),
                                       [this](const grpc::Status& status, std::string& response) {
                                         if (status.ok()) {
                                           responder_->Finish(to_buffer(response), status, this);
                                         } else {
                                           responder_->FinishWithError(status, this);
                                         }
                                       });
  }

  void on_async_done(bool) { report_done(*queue_.loop, *server_context_, call_, this); }

  CallShared& shared_;
  const BoundMethod* method_ = nullptr;
  int index_ = 0;
  Queue queue_{};
  std::optional<grpc::ServerContext> server_context_;  // one per call: gRPC does not reuse them
  grpc::ByteBuffer request_;
  std::optional<grpc::ServerAsyncResponseWriter<grpc::ByteBuffer>> responder_;
  GrpcServerCall call_;
  std::string request_bytes_;  // a request that came in several slices; capacity kept across calls
  std::string response_bytes_;
  State state_ = State::kRequested;
  Admission admission_;
  std::atomic<int> refs_{1};  // the finish, plus gRPC's done notification when requested
  Unref<UnaryCall> done_{this};
  Step<UnaryCall> async_done_{this, &UnaryCall::on_async_done};
};

// A call to a method no service here has. gRPC would answer it UNIMPLEMENTED by itself, unseen;
// taking it through the generic service lets the interceptors log and count it first.
class UnknownCall final : public Tag {
 public:
  UnknownCall(CallShared& shared, const Queue& queue)
      : shared_(shared), queue_(queue), stream_(&server_context_) {}

  void request() {
    shared_.unknown_service.RequestCall(&server_context_, &stream_, queue_.cq, queue_.cq, this);
  }

  void proceed(bool ok) override {
    if (!ok || finishing_) {  // shut down before a call matched, or the answer has been sent
      delete this;
      return;
    }
    finishing_ = true;
    if (!shared_.shutting_down.load(std::memory_order_relaxed))
      (new UnknownCall(shared_, queue_))->request();
    const std::string path = server_context_.method();
    call_.reset(&server_context_, false);
    const grpc::Status status =
        shared_.dispatcher.run_unknown(shared_.dispatcher.unknown_method(path), call_, path);
    stream_.Finish(status, this);
  }

 private:
  CallShared& shared_;
  Queue queue_;
  grpc::GenericServerContext server_context_;
  grpc::GenericServerAsyncReaderWriter stream_;
  GrpcServerCall call_;
  bool finishing_ = false;
};

}  // namespace

CallCache::~CallCache() {
  for (Tag* call : free_) delete call;
}

Tag* CallCache::take() {
  if (free_.empty()) return nullptr;
  Tag* call = free_.back();
  free_.pop_back();
  return call;
}

bool CallCache::put(Tag* call) {
  if (free_.size() >= capacity_) return false;
  free_.push_back(call);
  return true;
}

RawService::RawService(const std::vector<std::string>& paths, const std::vector<bool>& unary) {
  for (std::size_t i = 0; i < paths.size(); ++i) {
    paths_.push_back(paths[i]);
    const auto type = unary[i] ? grpc::internal::RpcMethod::NORMAL_RPC
                               : grpc::internal::RpcMethod::BIDI_STREAMING;
    AddMethod(new grpc::internal::RpcServiceMethod(paths_.back().c_str(), type, nullptr));
    MarkMethodRaw(static_cast<int>(i));
  }
}

void request_calls(CallShared& shared, const Queue& queue, const BoundMethod& method, int index,
                   int count) {
  for (int i = 0; i < count; ++i) {
    if (method.def.type == RpcType::kUnary) {
      UnaryCall::make(shared, queue, method, index)->request();
    } else {
      request_stream_call(shared, queue, method, index);
    }
  }
}

void request_unknown_calls(CallShared& shared, const Queue& queue, int count) {
  for (int i = 0; i < count; ++i) (new UnknownCall(shared, queue))->request();
}

}  // namespace gryphon::internal::grpc_transport
