// ContextAccess: the framework's way into gryphon::Context, whose constructor and setters are
// not public API. Dispatch creates contexts; the request-id interceptor sets the id.
#pragma once

#include <string>

#include "gryphon/context.h"

namespace gryphon::internal {

class ContextAccess {
 public:
  static Context make(detail::ServerCall& call, const std::atomic<bool>& draining, int slot) {
    return Context(call, draining, slot);
  }
  static void set_default_deadline(Context& context,
                                   std::chrono::system_clock::time_point deadline) {
    context.default_deadline_ = deadline;
  }
  static void set_request_id(Context& context, std::string id) {
    context.request_id_ = std::move(id);
  }
  static void set_async_scope(Context& context, detail::AsyncScope* scope) {
    context.async_ = scope;
  }
  static detail::AsyncScope* async_scope(const Context& context) { return context.async_; }
};

}  // namespace gryphon::internal
