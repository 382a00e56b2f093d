// MetricsInterceptor: records every call in this worker's slot of the shared RpcMetricsStore —
// grpc_server_started_total in on_start; handled (by code), messages and the latency histogram in
// on_finish, which runs before the status goes back to gRPC.
#pragma once

#include <mutex>
#include <unordered_map>

#include "gryphon/interceptor.h"
#include "observability/rpc_metrics_store.h"

namespace gryphon::internal {

class MetricsInterceptor final : public Interceptor {
 public:
  MetricsInterceptor(RpcMetricsStore& store, int slot) : store_(store), slot_(slot) {}

  // Called once per method while dispatch is built: resolves the method's counters.
  bool skip(const MethodDef& method) const override;
  grpc::Status on_start(CallInfo& call) override;
  void on_finish(CallInfo& call, grpc::Status& status) override;

 private:
  MethodCounters* find(const MethodDef* method);

  RpcMetricsStore& store_;
  int slot_;
  // Registered methods: filled while dispatch is built, then only read.
  mutable std::unordered_map<const MethodDef*, MethodCounters*> counters_;
  // Methods the server does not have: dispatch adds them while serving (a bounded set).
  mutable std::mutex unknown_mutex_;
  mutable std::unordered_map<const MethodDef*, MethodCounters*> unknown_;
};

}  // namespace gryphon::internal
