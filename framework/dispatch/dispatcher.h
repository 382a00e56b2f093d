// Dispatcher: gryphon's own RPC path inside a worker, the same for every transport.
//
// It holds the method table (every registered service's methods, plus a bounded set of rows for
// calls to methods the server does not have), the interceptor chain of each method, admission
// (max_concurrent_rpcs) and the handler pool. A transport finds the BoundMethod for a call's path,
// decides where the handler runs (inline on its own thread, or posted to pool()) and calls
// run_unary / run_stream / run_unknown, which create the call's Context and CallInfo, run the
// chain around the handler and return the status the client will see — so interceptors see wire
// sizes, can reject before the handler and see the final status.
//
// Threading: everything here may be called from any transport thread; the method table is fixed
// after construction (the unknown-method rows are added under a lock).
#pragma once

#include <atomic>
#include <boost/asio/any_io_executor.hpp>
#include <boost/asio/thread_pool.hpp>
#include <exception>
#include <functional>
#include <chrono>
#include <cstdint>
#include <map>
#include <memory>
#include <mutex>
#include <optional>
#include <set>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

#include <grpcpp/support/status.h>

#include "gryphon/handler.h"
#include "gryphon/interceptor.h"

namespace gryphon::internal {

// Counters shared with the worker's heartbeat. Relaxed atomics: they are statistics.
struct DispatchStats {
  std::atomic<std::int64_t> in_flight{0};
  std::atomic<std::uint64_t> served{0};  // answered by run_unary / run_stream, admitted
  std::atomic<std::uint64_t> rejected{0};
  std::atomic<std::uint64_t> refunded{0};  // admitted, then given back unrun (to start again)
  // Streaming writes that waited past --stream-write-timeout for the client's flow-control window.
  std::atomic<std::uint64_t> write_timeouts{0};
};

struct DispatchOptions {
  int max_concurrent_rpcs = 1024;
  // Pool threads streaming handlers may hold at once (the rest stay for unary pool handlers).
  int max_streaming_calls = 12;
  // Built-in streams (health Watch, reflection) open at once; a sync one also takes a streaming
  // thread.
  int max_builtin_streams = 1024;
  std::chrono::milliseconds default_deadline{0};         // for unary calls without one; 0 = none
  std::chrono::milliseconds default_stream_deadline{0};  // streams (not built-ins); 0 = none
  int slot = 0;
};

// One method as the running dispatch holds it.
struct BoundMethod {
  MethodDef def;
  bool inline_handler = false;  // a unary handler registered inline: run it on the I/O thread
  bool builtin = false;         // health or reflection: no interceptors, limits of its own
  std::vector<Interceptor*> chain;
};

class Dispatcher;

// What one call holds while its handler may run: a slot of max_concurrent_rpcs and, for a
// streaming call, one of the pool threads streaming handlers may take. Given back when the
// Admission is destroyed or reset, on any thread; moves with the call. A refused Admission is
// false and carries the status the client gets. The call counts as served when run_unary or
// run_stream answers it, on every transport at that moment, however long the transport then
// holds the Admission (gRPC C++ keeps a stream's pool thread until its status is on the wire).
class Admission {
 public:
  Admission() = default;
  Admission(Admission&& other) noexcept { *this = std::move(other); }
  Admission& operator=(Admission&& other) noexcept;
  ~Admission() { reset(); }
  explicit operator bool() const { return held_ != 0; }
  const grpc::Status& refusal() const { return *refusal_; }
  void reset();   // gives back what is held
  void refund();  // gives back what is held for a call that did not run, to start again later

 private:
  friend class Dispatcher;
  static constexpr unsigned kCounted = 1, kSlot = 2, kStreamThread = 4, kBuiltinStream = 8;
  Dispatcher* dispatcher_ = nullptr;
  unsigned held_ = 0;
  const grpc::Status* refusal_ = nullptr;
};

class Dispatcher {
 public:
  // One entry per service: its methods, whether its unary handlers run inline, and whether it is a
  // built-in (health, reflection) that bypasses the interceptors.
  struct Service {
    ServiceDef def;
    bool inline_handlers = false;
    bool builtin = false;
  };
  Dispatcher(DispatchOptions options, std::vector<Service> services,
             std::vector<std::unique_ptr<Interceptor>> interceptors,
             boost::asio::thread_pool& pool);
  Dispatcher(const Dispatcher&) = delete;
  Dispatcher& operator=(const Dispatcher&) = delete;

  const std::vector<std::unique_ptr<BoundMethod>>& methods() const { return methods_; }
  // The registered method at `path` ("/pkg.Service/Method"), or nullptr.
  BoundMethod* find(std::string_view path) const;
  // The BoundMethod a call to `path`, which no service here has, is logged and counted under: one
  // per distinct plain service/method name up to a bound, then a shared `unknown` one.
  BoundMethod& unknown_method(std::string_view path);

  // Admission of one call about to start (counted as rejected when refused):
  //  - health Check and the other built-in unary calls are always admitted: a load balancer's
  //    probe must not fail because the worker is busy;
  //  - other calls take a slot of max_concurrent_rpcs;
  //  - streaming calls of sync handlers also take one of max_streaming_calls pool threads, so
  //    streams can never hold every thread unary pool handlers need; an async handler's stream
  //    holds no thread, and takes none;
  //  - built-in streams (health Watch, reflection: async) take one of max_builtin_streams
  //    instead of a slot, so they never crowd out the application's calls, nor grow unbounded.
  Admission admit(const BoundMethod& method);

  // Where a call's handler runs, the one place every transport asks: at once on the thread that
  // read the call (the I/O loop, the completion-queue thread) when the call was refused — its
  // answer needs no handler —, is an async handler's (a coroutine on that loop) or is a unary
  // call registered inline; else on pool().
  static bool runs_on_io_thread(const BoundMethod& method, const Admission& admission) {
    return !admission || method.def.is_async() ||
           (method.inline_handler && method.def.type == RpcType::kUnary);
  }

  // Serve one call through the interceptor chain. A refused `admission` answers its refusal
  // (RESOURCE_EXHAUSTED), and a call whose deadline passed before it could start answers
  // DEADLINE_EXCEEDED, without running the handler (the interceptors still see the call).
  grpc::Status run_unary(const BoundMethod& method, detail::ServerCall& call,
                         std::string_view request, std::string& response,
                         const Admission& admission);
  grpc::Status run_stream(const BoundMethod& method, detail::ServerCall& call, RawStream& stream,
                          const Admission& admission);
  grpc::Status run_unknown(const BoundMethod& method, detail::ServerCall& call,
                           std::string_view path);
  // Serves an admitted call of an async unary method (BoundMethod::def.is_async()): its handler
  // runs as a coroutine on `loop` (the thread calling this must be that loop's), through the
  // chain as run_unary does, and `done` gets the status and response there. The call holds
  // `admission` until `done` has run. `call` must outlive `done`.
  using AsyncDone = std::function<void(const grpc::Status& status, std::string& response)>;
  void run_unary_async(const BoundMethod& method, detail::ServerCall& call, std::string request,
                       Admission admission, boost::asio::any_io_executor loop, AsyncDone done);
  // The same for an async streaming method: its messages go through `stream`, which (like `call`)
  // must outlive `done`; `done` comes once every message written has left (its response is
  // empty).
  void run_stream_async(const BoundMethod& method, detail::ServerCall& call,
                        detail::AsyncRawStream& stream, Admission admission,
                        boost::asio::any_io_executor loop, AsyncDone done);

  DispatchStats& stats() { return stats_; }
  const DispatchOptions& options() const { return options_; }
  void set_draining() { draining_.store(true); }
  bool draining() const { return draining_.load(std::memory_order_relaxed); }
  boost::asio::thread_pool& pool() { return pool_; }

 private:
  friend class Admission;
  struct AsyncCall;
  Task<void> drive(std::unique_ptr<AsyncCall> call);
  void release(unsigned held, bool refunded);
  std::unique_ptr<BoundMethod> make_method(MethodDef def, bool builtin);
  // The chain around a handler, in two halves an async call runs apart: begin() starts the call's
  // clock and default deadline and runs on_start in order — it returns how many on_finish calls
  // end() owes, with `rejection` set when an interceptor rejected the call; end() runs them in
  // reverse.
  std::size_t begin(const BoundMethod& method, Context& context, CallInfo& info,
                    grpc::Status& rejection);
  void end(const BoundMethod& method, CallInfo& info, std::size_t ran, grpc::Status& status);
  // What a handler that threw answers (INTERNAL), logged.
  static grpc::Status threw(const BoundMethod& method, std::exception_ptr failure);
  // What the client sees of `status`: the transport's own ending, a passed deadline or the
  // client's cancel win over what the handler returned.
  static grpc::Status as_seen_by_client(const detail::ServerCall& call, const Context& context,
                                        const grpc::Status& status);
  // The answer of a call whose handler must not run (refused, or already past its deadline).
  static std::optional<grpc::Status> not_started(const Admission& admission,
                                                 const Context& context);
  template <class Body>
  grpc::Status intercepted(const BoundMethod& method, detail::ServerCall& call, Context& context,
                           CallInfo& info, Body&& body);
  grpc::Status unimplemented(std::string_view path) const;

  DispatchOptions options_;
  std::vector<std::unique_ptr<Interceptor>> interceptors_;
  std::vector<std::unique_ptr<BoundMethod>> methods_;
  std::map<std::string, BoundMethod*, std::less<>> by_path_;
  boost::asio::thread_pool& pool_;
  DispatchStats stats_;
  std::atomic<int> calls_{0}, streaming_{0}, builtin_streams_{0};  // what admissions hold
  std::atomic<bool> draining_{false};
  std::set<std::string, std::less<>> service_names_;
  std::mutex unknown_mutex_;
  std::map<std::string, std::unique_ptr<BoundMethod>, std::less<>> unknown_methods_;
};

}  // namespace gryphon::internal
