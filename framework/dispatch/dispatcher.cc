#include "dispatch/dispatcher.h"

#include "dispatch/context_access.h"
#include "observability/logging.h"
#include "observability/rpc_metrics_store.h"

namespace gryphon::internal {
namespace {

const grpc::Status kOverloaded(
    grpc::StatusCode::RESOURCE_EXHAUSTED,
    "server overloaded: too many concurrent RPCs on this worker (--max-concurrent-rpcs); retry "
    "with backoff");
const grpc::Status kTooManyStreams(
    grpc::StatusCode::RESOURCE_EXHAUSTED,
    "server overloaded: too many streaming calls on this worker (--max-streaming-calls); retry "
    "with backoff");
const grpc::Status kTooManyBuiltinStreams(
    grpc::StatusCode::RESOURCE_EXHAUSTED,
    "server overloaded: too many health watches and reflection streams on this worker (as many "
    "as --max-concurrent-rpcs); retry with backoff");

// Takes one of `limit` places counted by `count`; false, and nothing taken, when all are taken.
bool take(std::atomic<int>& count, int limit) {
  if (count.fetch_add(1, std::memory_order_relaxed) < limit) return true;
  count.fetch_sub(1, std::memory_order_relaxed);
  return false;
}

// A stream as the handler sees it: the transport's, counting messages and bytes for CallInfo.
class CountingStream final : public RawStream {
 public:
  CountingStream(RawStream& inner, CallInfo& info) : inner_(inner), info_(info) {}
  bool read(std::string& message) override {
    if (!inner_.read(message)) return false;
    ++info_.messages_received;
    info_.bytes_received += message.size();
    return true;
  }
  bool write(std::string_view message, const WriteOptions& options) override {
    if (!inner_.write(message, options)) return false;
    ++info_.messages_sent;
    info_.bytes_sent += message.size();
    return true;
  }
  bool send_initial_metadata() override { return inner_.send_initial_metadata(); }

 private:
  RawStream& inner_;
  CallInfo& info_;
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
                       std::vector<std::unique_ptr<Interceptor>> interceptors,
                       boost::asio::thread_pool& pool)
    : options_(options), interceptors_(std::move(interceptors)), pool_(pool) {
  for (auto& entry : services) {
    service_names_.insert(entry.def.service);
    for (auto& def : entry.def.methods) {
      auto method = make_method(std::move(def), entry.builtin);
      method->inline_handler = entry.inline_handlers && method->def.type == RpcType::kUnary;
      by_path_[method->def.path()] = method.get();
      methods_.push_back(std::move(method));
    }
  }
}

std::unique_ptr<BoundMethod> Dispatcher::make_method(MethodDef def, bool builtin) {
  auto method = std::make_unique<BoundMethod>();
  method->def = std::move(def);
  method->builtin = builtin;
  for (const auto& interceptor : interceptors_) {
    if (!builtin && !interceptor->skip(method->def)) method->chain.push_back(interceptor.get());
  }
  return method;
}

BoundMethod* Dispatcher::find(std::string_view path) const {
  const auto it = by_path_.find(path);
  return it == by_path_.end() ? nullptr : it->second;
}

BoundMethod& Dispatcher::unknown_method(std::string_view path) {
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
  auto method = make_method(
      MethodDef{
          .service = std::string(service), .method = std::string(name), .type = RpcType::kUnknown},
      false);
  return *unknown_methods_.emplace(std::move(key), std::move(method)).first->second;
}

grpc::Status Dispatcher::unimplemented(std::string_view path) const {
  const auto [service, method] = split_path(path);
  if (service.empty())
    return {grpc::StatusCode::UNIMPLEMENTED, "malformed method name: " + quoted(path)};
  if (service_names_.count(service) == 0) {
    return {grpc::StatusCode::UNIMPLEMENTED,
            "unknown service " + std::string(service.substr(0, 120))};
  }
  return {grpc::StatusCode::UNIMPLEMENTED, "unknown method " + std::string(method.substr(0, 120)) +
                                               " for service " + std::string(service)};
}

Admission& Admission::operator=(Admission&& other) noexcept {
  if (this != &other) {
    reset();
    dispatcher_ = std::exchange(other.dispatcher_, nullptr);
    held_ = std::exchange(other.held_, 0);
    refusal_ = other.refusal_;
  }
  return *this;
}

void Admission::reset() {
  if (held_ != 0) dispatcher_->release(std::exchange(held_, 0), false);
}

void Admission::refund() {
  if (held_ != 0) dispatcher_->release(std::exchange(held_, 0), true);
}

Admission Dispatcher::admit(const BoundMethod& method) {
  Admission admission;
  admission.dispatcher_ = this;
  // A sync handler's stream holds a pool thread for its whole life; an async one's, none.
  const bool streaming = method.def.type != RpcType::kUnary && !method.def.is_async();
  const auto refuse = [&](const grpc::Status& why) {
    stats_.rejected.fetch_add(1, std::memory_order_relaxed);
    admission.refusal_ = &why;
    return std::move(admission);
  };
  if (method.builtin && method.def.type == RpcType::kUnary) {  // health Check: never refused
    stats_.in_flight.fetch_add(1, std::memory_order_relaxed);
    admission.held_ = Admission::kCounted;
    return admission;
  }
  if (method.builtin && !take(builtin_streams_, options_.max_builtin_streams))
    return refuse(kTooManyBuiltinStreams);
  const unsigned builtin = method.builtin ? Admission::kBuiltinStream : 0;
  if (streaming && !take(streaming_, options_.max_streaming_calls)) {
    if (builtin) builtin_streams_.fetch_sub(1, std::memory_order_relaxed);
    return refuse(kTooManyStreams);
  }
  const unsigned thread = streaming ? Admission::kStreamThread : 0;
  const unsigned slot = method.builtin ? 0 : Admission::kSlot;
  if (slot && !take(calls_, options_.max_concurrent_rpcs)) {
    if (thread) streaming_.fetch_sub(1, std::memory_order_relaxed);
    return refuse(kOverloaded);
  }
  stats_.in_flight.fetch_add(1, std::memory_order_relaxed);
  admission.held_ = Admission::kCounted | slot | thread | builtin;
  return admission;
}

void Dispatcher::release(unsigned held, bool refunded) {
  if (held & Admission::kSlot) calls_.fetch_sub(1, std::memory_order_relaxed);
  if (held & Admission::kStreamThread) streaming_.fetch_sub(1, std::memory_order_relaxed);
  if (held & Admission::kBuiltinStream) builtin_streams_.fetch_sub(1, std::memory_order_relaxed);
  stats_.in_flight.fetch_sub(1, std::memory_order_relaxed);
  if (refunded) stats_.refunded.fetch_add(1, std::memory_order_relaxed);
}

// What the client will see: a call the transport ended, whose deadline passed or that the client
// cancelled ends that way whatever the handler returned, and logs and metrics should say so.
grpc::Status Dispatcher::as_seen_by_client(const detail::ServerCall& call, const Context& context,
                                           const grpc::Status& status) {
  if (auto ended = call.ended_by_transport()) return *std::move(ended);
  if (context.deadline_passed()) {
    return status.error_code() == grpc::StatusCode::DEADLINE_EXCEEDED
               ? status
               : grpc::Status(grpc::StatusCode::DEADLINE_EXCEEDED, "deadline exceeded");
  }
  if (context.cancelled_by_client())
    return grpc::Status(grpc::StatusCode::CANCELLED, "cancelled by the client");
  return status;
}

// Why a call's handler must not run: admission refused it, or its deadline passed while it waited
// to start (for a pool thread, behind a busy loop) — the client has its answer already, and
// running the handler would spend a thread on a call nobody waits for. Interceptors still see it.
std::optional<grpc::Status> Dispatcher::not_started(const Admission& admission,
                                                    const Context& context) {
  if (!admission) return admission.refusal();
  if (!context.deadline_passed()) return std::nullopt;
  return grpc::Status(grpc::StatusCode::DEADLINE_EXCEEDED,
                      "deadline exceeded before the handler started");
}

std::size_t Dispatcher::begin(const BoundMethod& method, Context& context, CallInfo& info,
                              grpc::Status& rejection) {
  info.method = &method.def;
  info.context = &context;
  info.start = std::chrono::steady_clock::now();
  info.start_wall = std::chrono::system_clock::now();
  const std::chrono::milliseconds fallback = method.def.type == RpcType::kUnary
                                                 ? options_.default_deadline
                                             : method.builtin ? std::chrono::milliseconds(0)
                                                              : options_.default_stream_deadline;
  if (fallback.count() > 0)
    ContextAccess::set_default_deadline(context, info.start_wall + fallback);
  const auto& chain = method.chain;
  for (std::size_t ran = 0; ran < chain.size(); ++ran) {
    rejection = chain[ran]->on_start(info);
    if (!rejection.ok()) return ran + 1;  // the rejecting interceptor's on_finish runs too
  }
  rejection = grpc::Status::OK;
  return chain.size();
}

void Dispatcher::end(const BoundMethod& method, CallInfo& info, std::size_t ran,
                     grpc::Status& status) {
  info.duration = std::chrono::steady_clock::now() - info.start;
  for (std::size_t i = ran; i-- > 0;) method.chain[i]->on_finish(info, status);
}

grpc::Status Dispatcher::threw(const BoundMethod& method, std::exception_ptr failure) {
  try {
    std::rethrow_exception(failure);
  } catch (const std::exception& e) {
    log::app()->error("handler {} threw: {}", method.def.path(), e.what());
  } catch (...) {
    log::app()->error("handler {} threw a non-standard exception", method.def.path());
  }
  return grpc::Status(grpc::StatusCode::INTERNAL, "internal error");
}

template <class Body>
grpc::Status Dispatcher::intercepted(const BoundMethod& method, detail::ServerCall& call,
                                     Context& context, CallInfo& info, Body&& body) {
  grpc::Status status;
  const std::size_t ran = begin(method, context, info, status);
  if (status.ok()) {
    try {
      status = as_seen_by_client(call, context, body());
    } catch (...) {
      status = threw(method, std::current_exception());
    }
  }
  end(method, info, ran, status);
  return status;
}

grpc::Status Dispatcher::run_unary(const BoundMethod& method, detail::ServerCall& call,
                                   std::string_view request, std::string& response,
                                   const Admission& admission) {
  Context context = ContextAccess::make(call, draining_, options_.slot);
  CallInfo info;
  info.messages_received = 1;
  info.bytes_received = request.size();
  grpc::Status status = intercepted(method, call, context, info, [&] {
    if (auto refused = not_started(admission, context)) return *refused;
    grpc::Status status = method.def.unary(context, request, response);
    if (status.ok()) {
      info.messages_sent = 1;
      info.bytes_sent = response.size();
    }
    return status;
  });
  if (admission) stats_.served.fetch_add(1, std::memory_order_relaxed);
  return status;
}

grpc::Status Dispatcher::run_stream(const BoundMethod& method, detail::ServerCall& call,
                                    RawStream& stream, const Admission& admission) {
  Context context = ContextAccess::make(call, draining_, options_.slot);
  CallInfo info;
  CountingStream counted(stream, info);
  grpc::Status status = intercepted(method, call, context, info, [&] {
    if (auto refused = not_started(admission, context)) return *refused;
    return method.def.stream(context, counted);
  });
  if (admission) stats_.served.fetch_add(1, std::memory_order_relaxed);
  return status;
}

grpc::Status Dispatcher::run_unknown(const BoundMethod& method, detail::ServerCall& call,
                                     std::string_view path) {
  Context context = ContextAccess::make(call, draining_, options_.slot);
  CallInfo info;
  return intercepted(method, call, context, info, [&] { return unimplemented(path); });
}

}  // namespace gryphon::internal
