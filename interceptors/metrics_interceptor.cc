#include "metrics_interceptor.h"

namespace gryphon::internal {

bool MetricsInterceptor::skip(const MethodDef& method) const {
  MethodCounters* counters = store_.counters(slot_, method.service, method.method);
  if (counters == nullptr) return true;  // no segment for this slot: nothing to record into
  if (method.type == RpcType::kUnknown) {
    std::lock_guard lock(unknown_mutex_);
    unknown_[&method] = counters;
  } else {
    counters_[&method] = counters;
  }
  return false;
}

MethodCounters* MetricsInterceptor::find(const MethodDef* method) {
  if (method->type != RpcType::kUnknown) return counters_.at(method);
  std::lock_guard lock(unknown_mutex_);
  return unknown_.at(method);
}

grpc::Status MetricsInterceptor::on_start(CallInfo& call) {
  find(call.method)->started.fetch_add(1, std::memory_order_relaxed);
  return grpc::Status::OK;
}

void MetricsInterceptor::on_finish(CallInfo& call, grpc::Status& status) {
  store_.record(*find(call.method), status.error_code(), call.messages_received, call.messages_sent,
                call.duration);
}

}  // namespace gryphon::internal
