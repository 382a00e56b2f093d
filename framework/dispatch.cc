#include "dispatch.h"

#include <grpcpp/generic/async_generic_service.h>
#include <grpcpp/impl/rpc_service_method.h>
#include <grpcpp/support/async_stream.h>
#include <grpcpp/support/async_unary_call.h>
#include <spdlog/spdlog.h>

#include <boost/asio/post.hpp>
#include <deque>
#include <optional>
#include <semaphore>

#include "logging.h"
#include "metrics_store.h"

namespace gryphon::internal {

// A grpc::Service whose methods are built at run time from a ServiceDef, all raw and async.
class RawService final : public grpc::Service {
 public:
  explicit RawService(const ServiceDef& def) {
    for (const auto& method : def.methods) {
      paths_.push_back(method.path());
      const auto type = method.type == RpcType::kUnary ? grpc::internal::RpcMethod::NORMAL_RPC
                                                       : grpc::internal::RpcMethod::BIDI_STREAMING;
      AddMethod(new grpc::internal::RpcServiceMethod(paths_.back().c_str(), type, nullptr));
      MarkMethodRaw(static_cast<int>(paths_.size() - 1));
    }
  }
  using grpc::Service::RequestAsyncBidiStreaming;
  using grpc::Service::RequestAsyncUnary;

 private:
  std::deque<std::string> paths_;  // RpcServiceMethod keeps the pointer: addresses must be stable
};

namespace {

// What the client will see: a call whose deadline passed or that the client cancelled ends that
// way whatever the handler returned, and logs and metrics should say so.
grpc::Status as_seen_by_client(Context& context, const grpc::Status& status) {
  if (context.deadline_passed()) return grpc::Status(grpc::StatusCode::DEADLINE_EXCEEDED, "deadline exceeded");
  if (context.cancelled_by_client()) return grpc::Status(grpc::StatusCode::CANCELLED, "cancelled by the client");
  return status;
}

template <class Body>
grpc::Status run_intercepted(const Method& method, CallInfo& info, Body&& body) {
  const auto& chain = method.chain;
  grpc::Status status;
  std::size_t ran = 0;
  bool admitted = true;
  for (; ran < chain.size(); ++ran) {
    status = chain[ran]->on_start(info);
    if (!status.ok()) {
      admitted = false;
      ++ran;  // the rejecting interceptor's on_finish runs too
      break;
    }
  }
  if (admitted) {
    try {
      status = body();
      status = as_seen_by_client(*info.context, status);
    } catch (const std::exception& e) {
      log::app()->error("handler {} threw: {}", method.def.path(), e.what());
      status = grpc::Status(grpc::StatusCode::INTERNAL, "internal error");
    } catch (...) {
      log::app()->error("handler {} threw a non-standard exception", method.def.path());
      status = grpc::Status(grpc::StatusCode::INTERNAL, "internal error");
    }
  }
  info.duration = std::chrono::steady_clock::now() - info.start;
  for (std::size_t i = ran; i-- > 0;) chain[i]->on_finish(info, status);
  return status;
}

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

const grpc::Status kOverloaded(grpc::StatusCode::RESOURCE_EXHAUSTED,
                               "server overloaded: too many concurrent RPCs on this worker; retry with backoff");

// A unary call. Its object is recycled: once a call is over it goes back to the dispatcher's
// free list and the next request reuses it, as a raw async server reuses its call slots (the
// object is larger than the allocator's per-thread cache takes, so a new one per RPC was a
// measurable share of the per-call cost).
class UnaryCall final : public Tag {
 public:
  // Takes a recycled object when there is one.
  static UnaryCall* make(Dispatcher& dispatcher, Method& method, grpc::ServerCompletionQueue* cq) {
    UnaryCall* call = dispatcher.call_cache(cq).take<UnaryCall>();
    if (call == nullptr) call = new UnaryCall(dispatcher);
    call->method_ = &method;
    call->cq_ = cq;
    return call;
  }

  void request() {
    server_context_.emplace();
    responder_.emplace(&*server_context_);
    state_ = State::kRequested;
    admitted_ = false;
    refs_.store(1);
    // Blocking handlers may want context.is_cancelled(): that needs gRPC's done notification, an
    // extra completion per call that inline (non-blocking) handlers do without.
    if (!method_->inline_handler) {
      server_context_->AsyncNotifyWhenDone(&done_);
      refs_.store(2);
    }
    method_->service->RequestAsyncUnary(method_->index, &*server_context_, &request_, &*responder_, cq_, cq_, this);
  }

  void unref() {
    if (refs_.fetch_sub(1) == 1) recycle();
  }

  void proceed(bool ok) override {
    if (state_ == State::kFinishing) {
      if (admitted_) dispatcher_.release();
      unref();
      return;
    }
    if (!ok) {  // the server is shutting down; this request never matched a call
      delete this;
      return;
    }
    if (!dispatcher_.shutting_down()) make(dispatcher_, *method_, cq_)->request();
    state_ = State::kFinishing;
    admitted_ = dispatcher_.admit();
    // An overloaded call is answered at once, still through the interceptors (logs, metrics).
    if (!admitted_ || method_->inline_handler) {
      serve();
    } else {
      boost::asio::post(dispatcher_.pool(), [this] { serve(); });
    }
  }

 private:
  enum class State { kRequested, kFinishing };

  explicit UnaryCall(Dispatcher& dispatcher) : dispatcher_(dispatcher) {}

  void recycle() {
    responder_.reset();
    server_context_.reset();
    request_.Clear();
    if (!dispatcher_.call_cache(cq_).put(this)) delete this;
  }

  void serve() {
    Context context(*server_context_, dispatcher_.draining_flag(), dispatcher_.slot(), !method_->inline_handler);
    CallInfo info;
    info.method = &method_->def;
    info.context = &context;
    info.start = std::chrono::steady_clock::now();
    info.start_wall = std::chrono::system_clock::now();
    info.messages_received = 1;
    info.bytes_received = request_.Length();
    if (dispatcher_.default_deadline().count() > 0) {
      context.set_default_deadline(info.start_wall + dispatcher_.default_deadline());
    }
    grpc::ByteBuffer response;
    grpc::Status status = run_intercepted(*method_, info, [&] {
      if (!admitted_) return kOverloaded;
      grpc::Status handler_status = method_->def.unary(context, request_, &response);
      if (handler_status.ok()) {
        info.messages_sent = 1;
        info.bytes_sent = response.Length();
      }
      return handler_status;
    });
    if (status.ok()) {
      responder_->Finish(response, status, this);
    } else {
      responder_->FinishWithError(status, this);
    }
  }

  Dispatcher& dispatcher_;
  Method* method_ = nullptr;
  grpc::ServerCompletionQueue* cq_ = nullptr;
  std::optional<grpc::ServerContext> server_context_;  // one per call: gRPC does not reuse them
  grpc::ByteBuffer request_;
  std::optional<grpc::ServerAsyncResponseWriter<grpc::ByteBuffer>> responder_;
  State state_ = State::kRequested;
  bool admitted_ = false;
  std::atomic<int> refs_{1};  // the finish, plus gRPC's done notification when requested
  Unref<UnaryCall> done_{this};
};

// A streaming call (any of the three kinds, registered as bidi). The handler runs on the pool and
// blocks on each read and write until the CQ thread reports the operation complete.
class StreamCall final : public Tag, public RawStream {
 public:
  StreamCall(Dispatcher& dispatcher, Method& method, grpc::ServerCompletionQueue* cq)
      : dispatcher_(dispatcher), method_(method), cq_(cq), stream_(&server_context_), done_(this), finished_(this) {}

  void request() {
    server_context_.AsyncNotifyWhenDone(&done_);
    method_.service->RequestAsyncBidiStreaming(method_.index, &server_context_, &stream_, cq_, cq_, this);
  }

  void proceed(bool ok) override {
    if (!ok) {  // never matched: gRPC will not deliver the done tag either
      delete this;
      return;
    }
    if (!dispatcher_.shutting_down()) (new StreamCall(dispatcher_, method_, cq_))->request();
    admitted_ = dispatcher_.admit();
    if (!admitted_) {
      serve();  // answered at once with RESOURCE_EXHAUSTED, through the interceptors
      return;
    }
    boost::asio::post(dispatcher_.pool(), [this] { serve(); });
  }

  bool read(grpc::ByteBuffer* message) override {
    stream_.Read(message, &read_op_);
    if (!read_op_.wait()) return false;
    ++info_.messages_received;
    info_.bytes_received += message->Length();
    return true;
  }

  bool write(const grpc::ByteBuffer& message, const WriteOptions& options) override {
    if (last_message_) return false;  // the last message was written already
    if (options.last_message) {
      // Held until the handler returns: it leaves with the status in one operation (waiting for a
      // buffered write here would wait for the status that follows it).
      last_message_ = message;
      last_options_ = options;
      return true;
    }
    stream_.Write(message, grpc_options(options), &write_op_);
    initial_metadata_sent_ = true;
    if (!write_op_.wait()) return false;
    ++info_.messages_sent;
    info_.bytes_sent += message.Length();
    return true;
  }

  bool send_initial_metadata() override {
    if (initial_metadata_sent_) return true;
    initial_metadata_sent_ = true;
    stream_.SendInitialMetadata(&write_op_);
    return write_op_.wait();
  }

 private:
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

   private:
    std::binary_semaphore done_{0};
    bool ok_ = false;
  };

  static grpc::WriteOptions grpc_options(const WriteOptions& options) {
    grpc::WriteOptions out;
    if (options.no_compression) out.set_no_compression();
    if (options.buffer_hint) out.set_buffer_hint();
    return out;
  }

  void serve() {
    Context context(server_context_, dispatcher_.draining_flag(), dispatcher_.slot(), true);
    info_.method = &method_.def;
    info_.context = &context;
    info_.start = std::chrono::steady_clock::now();
    info_.start_wall = std::chrono::system_clock::now();
    const grpc::Status status = run_intercepted(method_, info_, [&] {
      grpc::Status handler_status = admitted_ ? method_.def.stream(context, *this) : kOverloaded;
      if (last_message_) {
        ++info_.messages_sent;
        info_.bytes_sent += last_message_->Length();
      }
      return handler_status;
    });
    if (admitted_) {
      if (last_message_) {
        stream_.WriteAndFinish(*last_message_, grpc_options(last_options_), status, &finish_op_);
      } else {
        stream_.Finish(status, &finish_op_);
      }
      finish_op_.wait();
      dispatcher_.release();
      unref();
    } else {
      // On the CQ thread, so no waiting: the finish tag drops the reference.
      stream_.Finish(status, &finished_);
    }
  }

 public:
  void unref() {
    if (refs_.fetch_sub(1) == 1) delete this;
  }

 private:
  Dispatcher& dispatcher_;
  Method& method_;
  grpc::ServerCompletionQueue* cq_;
  grpc::ServerContext server_context_;
  grpc::ServerAsyncReaderWriter<grpc::ByteBuffer, grpc::ByteBuffer> stream_;
  Operation read_op_;
  Operation write_op_;
  Operation finish_op_;
  Unref<StreamCall> done_;      // gRPC's done notification: the call is over for gRPC
  Unref<StreamCall> finished_;  // an overloaded call's finish, not waited for
  CallInfo info_;
  std::atomic<int> refs_{2};  // the handler's finish and gRPC's done notification
  bool admitted_ = true;
  bool initial_metadata_sent_ = false;
  std::optional<grpc::ByteBuffer> last_message_;
  WriteOptions last_options_;
};

// A call to a method no service here has. gRPC would answer it UNIMPLEMENTED by itself, unseen;
// taking it through the generic service lets the interceptors log and count it first.
class UnknownCall final : public Tag {
 public:
  UnknownCall(Dispatcher& dispatcher, grpc::ServerCompletionQueue* cq)
      : dispatcher_(dispatcher), cq_(cq), stream_(&server_context_) {}

  void request() { dispatcher_.unknown_methods().RequestCall(&server_context_, &stream_, cq_, cq_, this); }

  void proceed(bool ok) override {
    if (!ok || finishing_) {  // shut down before a call matched, or the answer has been sent
      delete this;
      return;
    }
    finishing_ = true;
    if (!dispatcher_.shutting_down()) (new UnknownCall(dispatcher_, cq_))->request();
    const std::string path = server_context_.method();
    Method& method = dispatcher_.unknown_method(path);
    Context context(server_context_, dispatcher_.draining_flag(), dispatcher_.slot(), false);
    CallInfo info;
    info.method = &method.def;
    info.context = &context;
    info.start = std::chrono::steady_clock::now();
    info.start_wall = std::chrono::system_clock::now();
    const grpc::Status status = run_intercepted(method, info, [&] { return dispatcher_.unimplemented(path); });
    stream_.Finish(status, this);
  }

 private:
  Dispatcher& dispatcher_;
  grpc::ServerCompletionQueue* cq_;
  grpc::GenericServerContext server_context_;
  grpc::GenericServerAsyncReaderWriter stream_;
  bool finishing_ = false;
};

// "/pkg.Service/Method" → {"pkg.Service", "Method"}; empty names when the path has another shape.
std::pair<std::string_view, std::string_view> split_path(std::string_view path) {
  if (path.size() < 4 || path[0] != '/') return {};
  const auto slash = path.find('/', 1);
  if (slash == std::string_view::npos || slash == 1 || slash + 1 == path.size()) return {};
  const std::string_view method = path.substr(slash + 1);
  if (method.find('/') != std::string_view::npos) return {};
  return {path.substr(1, slash - 1), method};
}

// At most this much of a client's path is quoted back.
std::string quoted(std::string_view text) {
  constexpr std::size_t kMax = 120;
  return "\"" + std::string(text.substr(0, kMax)) + (text.size() > kMax ? "…" : "") + "\"";
}

}  // namespace

Dispatcher::Dispatcher(DispatchOptions options, std::vector<Service> services,
                       std::vector<std::unique_ptr<Interceptor>> interceptors, boost::asio::thread_pool& pool)
    : options_(options), interceptors_(std::move(interceptors)), pool_(pool) {
  for (auto& entry : services) {
    service_names_.insert(entry.def.service);
    auto service = std::make_unique<RawService>(entry.def);
    for (std::size_t i = 0; i < entry.def.methods.size(); ++i) {
      auto method = make_method(std::move(entry.def.methods[i]), entry.builtin);
      method->service = service.get();
      method->index = static_cast<int>(i);
      method->inline_handler = entry.inline_handlers && method->def.type == RpcType::kUnary;
      methods_.push_back(std::move(method));
    }
    raw_services_.push_back(std::move(service));
  }
}

std::unique_ptr<Method> Dispatcher::make_method(MethodDef def, bool builtin) {
  auto method = std::make_unique<Method>();
  method->def = std::move(def);
  for (const auto& interceptor : interceptors_) {
    if (!builtin && !interceptor->skip(method->def)) method->chain.push_back(interceptor.get());
  }
  return method;
}

Method& Dispatcher::unknown_method(std::string_view path) {
  auto [service, name] = split_path(path);
  std::string key = std::string(service) + "/" + std::string(name);
  std::lock_guard lock(unknown_mutex_);
  if (auto it = unknown_methods_.find(key); it != unknown_methods_.end()) return *it->second;
  // As many names as the metrics store has rows for; the rest share the `unknown` row.
  if (service.empty() || unknown_methods_.size() + 1 >= kUnknownMethodRows) {
    service = name = "unknown";
    key = "unknown/unknown";
    if (auto it = unknown_methods_.find(key); it != unknown_methods_.end()) return *it->second;
  }
  auto method = make_method(MethodDef{std::string(service), std::string(name), RpcType::kUnknown, {}, {}}, false);
  return *unknown_methods_.emplace(std::move(key), std::move(method)).first->second;
}

grpc::Status Dispatcher::unimplemented(std::string_view path) const {
  const auto [service, method] = split_path(path);
  if (service.empty()) return {grpc::StatusCode::UNIMPLEMENTED, "malformed method name: " + quoted(path)};
  if (service_names_.count(service) == 0) {
    return {grpc::StatusCode::UNIMPLEMENTED, "unknown service " + std::string(service.substr(0, 120))};
  }
  return {grpc::StatusCode::UNIMPLEMENTED,
          "unknown method " + std::string(method.substr(0, 120)) + " for service " + std::string(service)};
}

Dispatcher::~Dispatcher() { join(); }

void Dispatcher::register_with(grpc::ServerBuilder& builder) {
  for (auto& service : raw_services_) builder.RegisterService(service.get());
  builder.RegisterAsyncGenericService(&unknown_service_);
  for (int i = 0; i < options_.cq_threads; ++i) {
    cqs_.push_back(builder.AddCompletionQueue());
    call_caches_.push_back(std::make_unique<CallCache>(static_cast<std::size_t>(options_.max_concurrent_rpcs)));
  }
}

CallCache& Dispatcher::call_cache(const grpc::ServerCompletionQueue* cq) {
  for (std::size_t i = 0; i + 1 < cqs_.size(); ++i) {
    if (cqs_[i].get() == cq) return *call_caches_[i];
  }
  return *call_caches_.back();
}

void Dispatcher::request_calls(Method& method, grpc::ServerCompletionQueue* cq) {
  for (int i = 0; i < options_.requests_per_method; ++i) {
    if (method.def.type == RpcType::kUnary) {
      UnaryCall::make(*this, method, cq)->request();
    } else {
      (new StreamCall(*this, method, cq))->request();
    }
  }
}

void Dispatcher::start() {
  for (auto& cq : cqs_) {
    for (auto& method : methods_) request_calls(*method, cq.get());
    for (int i = 0; i < 2; ++i) (new UnknownCall(*this, cq.get()))->request();
  }
  for (auto& cq : cqs_) {
    threads_.emplace_back([queue = cq.get()] {
      void* tag = nullptr;
      bool ok = false;
      while (queue->Next(&tag, &ok)) static_cast<Tag*>(tag)->proceed(ok);
    });
  }
}

void Dispatcher::join() {
  shutting_down_.store(true);
  for (auto& cq : cqs_) cq->Shutdown();
  for (auto& thread : threads_) thread.join();
  threads_.clear();
  cqs_.clear();
}

bool Dispatcher::admit() {
  if (stats_.in_flight.fetch_add(1, std::memory_order_relaxed) >= options_.max_concurrent_rpcs) {
    stats_.in_flight.fetch_sub(1, std::memory_order_relaxed);
    stats_.rejected.fetch_add(1, std::memory_order_relaxed);
    return false;
  }
  return true;
}

void Dispatcher::release() {
  stats_.in_flight.fetch_sub(1, std::memory_order_relaxed);
  stats_.served.fetch_add(1, std::memory_order_relaxed);
}

}  // namespace gryphon::internal
