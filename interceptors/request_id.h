// RequestIdInterceptor: every call gets a request id — the client's `x-request-id` header when it
// sent one (up to 128 printable characters), otherwise a fresh random 128-bit hex id. The id is
// put in the Context (context.request_id()), the access log and the response's initial metadata.
#pragma once

#include "gryphon/interceptor.h"

namespace gryphon::internal {

class RequestIdInterceptor final : public Interceptor {
 public:
  grpc::Status on_start(CallInfo& call) override;
};

}  // namespace gryphon::internal
