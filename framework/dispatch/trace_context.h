// W3C trace context (https://www.w3.org/TR/trace-context/): the `traceparent` header a call
// carries — version, trace id, the caller's span id and flags — parsed, made and written.
//
// A served call's trace id is its client's, or one gryphon starts for it when its first
// downstream call needs one (Context::trace_id()); each downstream call gets a span id of its own.
#pragma once

#include <optional>
#include <string>
#include <string_view>

namespace gryphon::internal {

struct TraceParent {
  std::string trace_id;  // 32 lower-case hex digits, not all zero
  std::string span_id;   // 16 lower-case hex digits, not all zero
  std::string flags;     // 2 hex digits; "01": sampled
};

// A traceparent header value of version 00 (or a later version's first 55 characters, as the
// specification asks); nullopt for anything else.
std::optional<TraceParent> parse_traceparent(std::string_view value);
std::string format_traceparent(const TraceParent& parent);
// Random ids, never all zero (a per-thread generator, seeded in each process on first use).
std::string new_trace_id();
std::string new_span_id();

}  // namespace gryphon::internal
