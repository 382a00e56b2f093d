#include "transport/grpc/grpc_calls.h"

#include <grpcpp/alarm.h>
#include <grpcpp/impl/rpc_service_method.h>
#include <grpcpp/server_context.h>
#include <grpcpp/support/async_stream.h>
#include <grpcpp/support/async_unary_call.h>
#include <grpcpp/support/byte_buffer.h>

#include <boost/asio/post.hpp>
#include <optional>
#include <semaphore>

std::uint32_t grpc_call_test_only_get_message_flags(grpc_call* call);  // see GrpcServerCall

namespace gryphon::internal::grpc_transport {
namespace {

// The bytes of a gRPC byte buffer: a view of its one slice when it has one (kept alive in
// `single`), else a copy into `copy`.
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

// detail::ServerCall over a grpc::ServerContext.
// gRPC 1.51 tells whether a received message was compressed only through this function, exported
// by libgrpc and declared in its internal call_test_only.h (gRPC's own interop server reads it
// the same way), with these internal message flags (src/core/lib/transport/transport.h).
constexpr std::uint32_t kWasCompressed = 0x40000000u;     // arrived compressed, now inflated
constexpr std::uint32_t kInternalCompress = 0x80000000u;  // still compressed

class GrpcServerCall final : public detail::ServerCall {
 public:
  // `cancel_observable`: gRPC will report a cancel for this call (its done notification was
  // requested). ServerContext::IsCancelled() crashes on an async call that did not request it.
  void reset(grpc::ServerContext* context, bool cancel_observable) {
    context_ = context;
    cancel_observable_ = cancel_observable;
    peer_.clear();
  }
  const std::string& peer() override {
    if (peer_.empty()) peer_ = context_->peer();
    return peer_;
  }
  std::optional<std::string_view> find_metadata(std::string_view key) const override {
    const auto& metadata = context_->client_metadata();
    auto it = metadata.find(grpc::string_ref(key.data(), key.size()));
    if (it == metadata.end()) return std::nullopt;
    return std::string_view(it->second.data(), it->second.size());
  }
  std::vector<std::string_view> metadata_values(std::string_view key) const override {
    std::vector<std::string_view> values;
    const auto [first, last] =
        context_->client_metadata().equal_range(grpc::string_ref(key.data(), key.size()));
    for (auto it = first; it != last; ++it)
      values.emplace_back(it->second.data(), it->second.size());
    return values;
  }
  std::chrono::system_clock::time_point deadline() const override { return context_->deadline(); }
  bool cancelled() const override { return cancel_observable_ && context_->IsCancelled(); }
  bool request_compressed() const override {
    return (grpc_call_test_only_get_message_flags(context_->c_call()) &
            (kWasCompressed | kInternalCompress)) != 0;
  }
  void add_initial_metadata(const std::string& key, const std::string& value) override {
    context_->AddInitialMetadata(key, value);
  }
  void add_trailing_metadata(const std::string& key, const std::string& value) override {
    context_->AddTrailingMetadata(key, value);
  }
  void set_compression(Compression algorithm) override {
    switch (algorithm) {
      case Compression::kNone: context_->set_compression_algorithm(GRPC_COMPRESS_NONE); break;
      case Compression::kDeflate: context_->set_compression_algorithm(GRPC_COMPRESS_DEFLATE); break;
      case Compression::kGzip: context_->set_compression_algorithm(GRPC_COMPRESS_GZIP); break;
    }
  }

 private:
  grpc::ServerContext* context_ = nullptr;
  bool cancel_observable_ = false;
  std::string peer_;
};

// Drops one reference of a call when its event arrives (gRPC's done notification, or a finish
// nobody waits for).
template <class Call>
class Unref final : public Tag {
 public:
  explicit Unref(Call* call) : call_(call) {}
  void proceed(bool) override { call_->unref(); }

 private:
  Call* call_;
};

// Runs one member function of a call when its event arrives.
template <class Call>
class Step final : public Tag {
 public:
  Step(Call* call, void (Call::*then)(bool)) : call_(call), then_(then) {}
  void proceed(bool ok) override { (call_->*then_)(ok); }

 private:
  Call* call_;
  void (Call::*then_)(bool);
};

// A unary call. Its object is recycled: once a call is over it goes back to its queue's cache and
// the next request reuses it, as a raw async server reuses its call slots (the object is larger
// than the allocator's per-thread cache takes, so a new one per RPC was a measurable share of the
// per-call cost); its buffers keep their capacity.
class UnaryCall final : public Tag {
 public:
  static UnaryCall* make(CallShared& shared, const Queue& queue, const Method& method, int index) {
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
      server_context_->AsyncNotifyWhenDone(&done_);
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
    if (!admission_ || method_->inline_handler) {
      serve();
    } else {
      boost::asio::post(shared_.dispatcher.pool(), [this] { serve(); });
    }
  }

 private:
  enum class State { kRequested, kFinishing };

  explicit UnaryCall(CallShared& shared) : shared_(shared) {}

  void recycle() {
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

  CallShared& shared_;
  const Method* method_ = nullptr;
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
};

// A blocking operation: the pool thread starts it and waits; the CQ thread completes it.
class Operation final : public Tag {
 public:
  void proceed(bool ok) override {
    ok_ = ok;
    done_.release();
  }
  bool wait() {
    done_.acquire();
    return ok_;
  }
  // False if the operation has not completed within `timeout` (it is still under way).
  bool wait_for(std::chrono::milliseconds timeout, bool* ok) {
    if (!done_.try_acquire_for(timeout)) return false;
    *ok = ok_;
    return true;
  }

 private:
  std::binary_semaphore done_{0};
  bool ok_ = false;
};

// A streaming call (any of the three kinds, registered as bidi). Its first read is made on the CQ,
// so a call that sends headers and nothing else holds no slot and no thread; it is cancelled after
// first_message_timeout. Then the handler runs on the pool and blocks on each read and write until
// the CQ thread reports the operation complete (a read at most stream_idle_timeout).
class StreamCall final : public Tag, public RawStream {
 public:
  StreamCall(CallShared& shared, const Queue& queue, const Method& method, int index)
      : shared_(shared),
        queue_(queue),
        method_(method),
        index_(index),
        stream_(&server_context_),
        done_(this),
        finished_(this),
        first_read_(this, &StreamCall::on_first_read),
        first_timeout_(this, &StreamCall::on_first_timeout),
        deadline_(this, &StreamCall::on_deadline) {}

  void request() {
    server_context_.AsyncNotifyWhenDone(&done_);
    shared_.service.RequestAsyncBidiStreaming(index_, &server_context_, &stream_, queue_.cq,
                                              queue_.cq, this);
  }

  void proceed(bool ok) override {
    if (!ok) {  // never matched: gRPC will not deliver the done tag either
      delete this;
      return;
    }
    if (!shared_.shutting_down.load(std::memory_order_relaxed)) {
      (new StreamCall(shared_, queue_, method_, index_))->request();
    }
    call_.reset(&server_context_, true);
    if (shared_.first_message_timeout.count() > 0) {
      refs_.fetch_add(1);  // the alarm's event comes, fired or cancelled
      alarm_.Set(queue_.cq, std::chrono::system_clock::now() + shared_.first_message_timeout,
                 &first_timeout_);
    }
    stream_.Read(&buffer_, &first_read_);
  }

  // The first message, or the end of the request, arrived (CQ thread): the call starts now.
  void on_first_read(bool ok) {
    if (first_settled_.exchange(true)) {  // too late: the timeout cancelled the call
      stream_.Finish(grpc::Status(grpc::StatusCode::CANCELLED,
                                  "no request message arrived in time (--first-message-timeout)"),
                     &finished_);
      return;
    }
    if (shared_.first_message_timeout.count() > 0) alarm_.Cancel();
    first_ok_ = ok;
    admission_ = shared_.dispatcher.admit(method_);
    if (!admission_) {
      serve();  // answered at once with RESOURCE_EXHAUSTED, through the interceptors
      return;
    }
    // --default-stream-deadline, for a stream the client gave none: gRPC's own deadline cannot be
    // set from here, so the call is cancelled when it passes (the client sees CANCELLED).
    const auto fallback = shared_.default_stream_deadline;
    if (fallback.count() > 0 && !method_.builtin &&
        server_context_.deadline() == std::chrono::system_clock::time_point::max()) {
      refs_.fetch_add(1);  // the alarm's event comes, fired or cancelled
      deadline_armed_ = true;
      deadline_alarm_.Set(queue_.cq, std::chrono::system_clock::now() + fallback, &deadline_);
    }
    boost::asio::post(shared_.dispatcher.pool(), [this] { serve(); });
  }

  void on_deadline(bool fired) {
    if (fired) server_context_.TryCancel();
    unref();
  }

  void on_first_timeout(bool fired) {
    if (fired && !first_settled_.exchange(true)) server_context_.TryCancel();  // ends the read
    unref();
  }

  bool read(std::string& message) override {
    if (first_pending_) {
      first_pending_ = false;
      if (!first_ok_) return false;
    } else {
      if (!first_ok_) return false;
      stream_.Read(&buffer_, &read_op_);
      if (!wait_read()) return false;
    }
    grpc::Slice single;
    const std::string_view bytes = bytes_of(buffer_, single, message);
    if (bytes.data() != message.data()) message.assign(bytes);
    return true;
  }

  bool write(std::string_view message, const WriteOptions& options) override {
    if (last_message_) return false;  // the last message was written already
    if (options.last_message) {
      // Held until the handler returns: it leaves with the status in one operation (waiting for a
      // buffered write here would wait for the status that follows it).
      last_message_ = to_buffer(message);
      last_options_ = options;
      return true;
    }
    stream_.Write(to_buffer(message), grpc_options(options), &write_op_);
    initial_metadata_sent_ = true;
    return write_op_.wait();
  }

  bool send_initial_metadata() override {
    if (initial_metadata_sent_) return true;
    initial_metadata_sent_ = true;
    stream_.SendInitialMetadata(&write_op_);
    return write_op_.wait();
  }

  void unref() {
    if (refs_.fetch_sub(1) == 1) delete this;
  }

 private:
  void serve() {
    const grpc::Status status = shared_.dispatcher.run_stream(method_, call_, *this, admission_);
    if (deadline_armed_) deadline_alarm_.Cancel();
    if (admission_) {
      if (last_message_) {
        stream_.WriteAndFinish(*last_message_, grpc_options(last_options_), status, &finish_op_);
      } else {
        stream_.Finish(status, &finish_op_);
      }
      finish_op_.wait();
      admission_.reset();
      unref();
    } else {
      // On the CQ thread, so no waiting: the finish tag drops the reference.
      stream_.Finish(status, &finished_);
    }
  }

  // The handler's wait for a read, at most stream_idle_timeout: then the call is cancelled.
  bool wait_read() {
    const auto idle = shared_.stream_idle_timeout;
    if (idle.count() == 0) return read_op_.wait();
    bool ok = false;
    if (read_op_.wait_for(idle, &ok)) return ok;
    server_context_.TryCancel();
    read_op_.wait();
    first_ok_ = false;  // no more reads
    return false;
  }

  CallShared& shared_;
  Queue queue_;
  const Method& method_;
  int index_;
  grpc::ServerContext server_context_;
  grpc::ServerAsyncReaderWriter<grpc::ByteBuffer, grpc::ByteBuffer> stream_;
  GrpcServerCall call_;
  grpc::ByteBuffer buffer_;
  Operation read_op_;
  Operation write_op_;
  Operation finish_op_;
  Unref<StreamCall> done_;      // gRPC's done notification: the call is over for gRPC
  Unref<StreamCall> finished_;  // an overloaded call's finish, not waited for
  Step<StreamCall> first_read_, first_timeout_, deadline_;
  grpc::Alarm alarm_, deadline_alarm_;
  bool deadline_armed_ = false;
  std::atomic<bool> first_settled_{false};  // the first read or the timeout, whichever came first
  bool first_pending_ = true;               // the first read's message is the handler's first
  bool first_ok_ = false;
  std::atomic<int> refs_{2};  // the handler's finish and gRPC's done notification
  Admission admission_;
  bool initial_metadata_sent_ = false;
  std::optional<grpc::ByteBuffer> last_message_;
  WriteOptions last_options_;
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

void request_calls(CallShared& shared, const Queue& queue, const Method& method, int index,
                   int count) {
  for (int i = 0; i < count; ++i) {
    if (method.def.type == RpcType::kUnary) {
      UnaryCall::make(shared, queue, method, index)->request();
    } else {
      (new StreamCall(shared, queue, method, index))->request();
    }
  }
}

void request_unknown_calls(CallShared& shared, const Queue& queue, int count) {
  for (int i = 0; i < count; ++i) (new UnknownCall(shared, queue))->request();
}

}  // namespace gryphon::internal::grpc_transport
