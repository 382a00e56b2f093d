#include "builtins.h"

#include "access_log.h"
#include "metrics_interceptor.h"
#include "request_id.h"

namespace gryphon::internal {

BuiltinInterceptors make_builtin_interceptors(const Config& config, int slot,
                                              RpcMetricsStore* store) {
  BuiltinInterceptors builtins;
  if (config.request_id) builtins.chain.push_back(std::make_unique<RequestIdInterceptor>());
  if (!config.access_log.empty()) {
    // Shared by the interceptor and the USR1 reopen; it lives as long as either does.
    auto log =
        std::make_shared<AccessLog>(config.access_log, config.access_log_format, slot,
                                    store != nullptr ? store->dropped_log_lines(slot) : nullptr);
    builtins.chain.push_back(std::make_unique<AccessLogInterceptor>(log));
    builtins.reopen_logs = [log] { log->reopen(); };
  }
  if (store != nullptr)
    builtins.chain.push_back(std::make_unique<MetricsInterceptor>(*store, slot));
  return builtins;
}

const BuiltinsProvider& builtin_interceptors() {
  static const BuiltinsProvider provider{&make_builtin_interceptors};
  return provider;
}

}  // namespace gryphon::internal
