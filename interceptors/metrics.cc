#include "metrics.h"

namespace gryphon::internal {

bool MetricsInterceptor::skip(const MethodDef& method) const {
  MethodCounters* counters = store_.counters(slot_, method.service, method.method);
  if (counters == nullptr) return true;  // not laid out by the master: nothing to record into
  counters_[&method] = counters;
  return false;
}

grpc::Status MetricsInterceptor::on_start(CallInfo& call) {
  counters_.at(call.method)->started.fetch_add(1, std::memory_order_relaxed);
  return grpc::Status::OK;
}

void MetricsInterceptor::on_finish(CallInfo& call, grpc::Status& status) {
  store_.record(*counters_.at(call.method), status.error_code(), call.messages_received, call.messages_sent,
                call.duration);
}

}  // namespace gryphon::internal
