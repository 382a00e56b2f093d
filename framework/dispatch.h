// Dispatch: gryphon's own RPC path inside a worker.
//
// Every registered method is added to the gRPC server as a *raw* async method (wire bytes, no
// gRPC-side parsing) and served from completion queues driven by `cq_threads` threads. Unary
// methods are registered as unary; the three streaming kinds are registered as bidi streams, which
// is the same on the wire and lets one code path read, write and finish any stream. For each call
// dispatch runs the interceptor chain, parses the request, calls the handler (inline on the CQ
// thread or on the handler pool), serialises the response and finishes the call — so interceptors
// see wire sizes, can reject before the handler and see the final status.
//
// Lifetime: construct, register_with(builder), BuildAndStart, start(); on drain call
// stop_requesting() before Server::Shutdown and join() after it.
#pragma once

#include <grpcpp/completion_queue.h>
#include <grpcpp/generic/async_generic_service.h>
#include <grpcpp/server_builder.h>

#include <atomic>
#include <boost/asio/thread_pool.hpp>
#include <cstdint>
#include <map>
#include <memory>
#include <mutex>
#include <set>
#include <thread>
#include <vector>

#include "gryphon/handler.h"
#include "gryphon/interceptor.h"

namespace gryphon::internal {

class RawService;

// Counters shared with the worker's heartbeat. Relaxed atomics: they are statistics.
struct DispatchStats {
  std::atomic<std::int64_t> in_flight{0};
  std::atomic<std::uint64_t> served{0};
  std::atomic<std::uint64_t> rejected{0};
};

struct DispatchOptions {
  int cq_threads = 1;
  int max_concurrent_rpcs = 1024;
  int requests_per_method = 16;  // calls kept requested per method and completion queue
  std::chrono::milliseconds default_deadline{0};  // for unary calls without one; 0 = none
  int slot = 0;
};

// Every completion-queue tag is a Tag; the CQ threads call proceed() with the event's ok flag.
class Tag {
 public:
  virtual ~Tag() = default;
  virtual void proceed(bool ok) = 0;
};

// Finished call objects kept for the next calls to reuse, up to a bound. There is one per completion
// queue, used only by that queue's polling thread (calls finish there, and new calls are requested
// there), or by start() before the threads run: no lock.
class CallCache {
 public:
  explicit CallCache(std::size_t capacity) : capacity_(capacity) {}
  ~CallCache() {
    for (Tag* call : free_) delete call;
  }
  CallCache(const CallCache&) = delete;
  CallCache& operator=(const CallCache&) = delete;

  template <class Call>
  Call* take() {
    if (free_.empty()) return nullptr;
    Tag* call = free_.back();
    free_.pop_back();
    return static_cast<Call*>(call);
  }
  // False when full: the caller deletes the object.
  bool put(Tag* call) {
    if (free_.size() >= capacity_) return false;
    free_.push_back(call);
    return true;
  }

 private:
  std::vector<Tag*> free_;
  std::size_t capacity_;
};

// One method as the running dispatch holds it.
struct Method {
  MethodDef def;
  RawService* service = nullptr;
  int index = 0;  // within its RawService
  bool inline_handler = false;
  std::vector<Interceptor*> chain;
};

class Dispatcher {
 public:
  // One entry per service: its methods, whether its unary handlers run inline, and whether it is a
  // built-in (health) that bypasses the interceptors.
  struct Service {
    ServiceDef def;
    bool inline_handlers = false;
    bool builtin = false;
  };
  Dispatcher(DispatchOptions options, std::vector<Service> services,
             std::vector<std::unique_ptr<Interceptor>> interceptors, boost::asio::thread_pool& pool);
  ~Dispatcher();
  Dispatcher(const Dispatcher&) = delete;
  Dispatcher& operator=(const Dispatcher&) = delete;

  void register_with(grpc::ServerBuilder& builder);
  void start();
  void stop_requesting() { shutting_down_.store(true); }
  void join();  // after Server::Shutdown: drains and joins the completion-queue threads

  DispatchStats& stats() { return stats_; }
  const std::atomic<bool>& draining_flag() const { return draining_; }
  void set_draining() { draining_.store(true); }
  const std::vector<std::unique_ptr<Method>>& methods() const { return methods_; }

  // Used by call objects.
  bool shutting_down() const { return shutting_down_.load(std::memory_order_relaxed); }
  boost::asio::thread_pool& pool() { return pool_; }
  int slot() const { return options_.slot; }
  std::chrono::milliseconds default_deadline() const { return options_.default_deadline; }
  CallCache& call_cache(const grpc::ServerCompletionQueue* cq);
  bool admit();   // false when max_concurrent_rpcs calls are already in flight
  void release();  // a call that was admitted has finished
  grpc::AsyncGenericService& unknown_methods() { return unknown_service_; }
  // The Method a call to `path`, which no service here has, is logged and counted under: one per
  // distinct plain service/method name up to a bound, then a shared `unknown` one.
  Method& unknown_method(std::string_view path);
  // What such a call is answered with, as grpc-go words it.
  grpc::Status unimplemented(std::string_view path) const;

 private:
  void request_calls(Method& method, grpc::ServerCompletionQueue* cq);
  std::unique_ptr<Method> make_method(MethodDef def, bool builtin);

  DispatchOptions options_;
  std::vector<std::unique_ptr<Interceptor>> interceptors_;
  std::vector<std::unique_ptr<RawService>> raw_services_;
  std::vector<std::unique_ptr<Method>> methods_;
  std::vector<std::unique_ptr<grpc::ServerCompletionQueue>> cqs_;
  std::vector<std::thread> threads_;
  boost::asio::thread_pool& pool_;
  DispatchStats stats_;
  std::vector<std::unique_ptr<CallCache>> call_caches_;  // one per entry of cqs_
  std::atomic<bool> shutting_down_{false};
  std::atomic<bool> draining_{false};
  grpc::AsyncGenericService unknown_service_;  // receives every call no registered method matches
  std::set<std::string, std::less<>> service_names_;
  std::mutex unknown_mutex_;
  std::map<std::string, std::unique_ptr<Method>, std::less<>> unknown_methods_;
};

}  // namespace gryphon::internal
