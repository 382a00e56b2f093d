// gryphon::Context: what a handler knows about the call it serves.
//
// One Context exists per call, owned by gryphon's dispatch and valid only while the handler runs.
// It tells the handler about the call (peer, metadata, deadline, cancellation), lets it add
// response metadata and choose compression, and adds what gryphon knows: the worker's slot, the
// request id, and whether the worker is draining — long-running streams should check draining()
// and end so their clients reconnect to a worker that is not going away.
#pragma once

#include <atomic>
#include <chrono>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "gryphon/compression.h"
#include "gryphon/detail/server_call.h"

namespace gryphon {

namespace internal {
class ContextAccess;
}
namespace detail {
class AsyncScope;
}
namespace testing {
class TestCall;
}

class Context {
 public:
  Context(const Context&) = delete;
  Context& operator=(const Context&) = delete;

  // The client's address, e.g. "ipv4:127.0.0.1:53422" or "unix:".
  const std::string& peer() const { return call_.peer(); }

  // Client metadata. Keys are lower-case; values of `-bin` keys are the decoded bytes.
  // The first value of `key`, or empty when absent (see find_metadata to tell the two apart).
  std::string_view metadata(std::string_view key) const {
    return find_metadata(key).value_or(std::string_view());
  }
  // The first value of `key`, or nullopt when the client did not send it.
  std::optional<std::string_view> find_metadata(std::string_view key) const {
    return call_.find_metadata(key);
  }
  // Every value of a key the client sent more than once, in the order it sent them.
  std::vector<std::string_view> metadata_values(std::string_view key) const {
    return call_.metadata_values(key);
  }

  // Metadata sent back to the client with the response headers / trailers.
  void add_initial_metadata(const std::string& key, const std::string& value) {
    call_.add_initial_metadata(key, value);
  }
  void add_trailing_metadata(const std::string& key, const std::string& value) {
    call_.add_trailing_metadata(key, value);
  }

  // Compresses this call's response messages with `algorithm` when the client accepts it
  // (grpc-accept-encoding); a stream can still send single messages uncompressed
  // (WriteOptions::no_compression). The choice travels in the response headers: call it before
  // they are sent (the first message, or SendInitialMetadata).
  void set_compression(Compression algorithm) { call_.set_compression(algorithm); }

  // The client's deadline, or the server's --default-deadline (--default-stream-deadline for a
  // stream) for a call that came without.
  std::chrono::system_clock::time_point deadline() const {
    const auto given = call_.deadline();
    return given != std::chrono::system_clock::time_point::max() ? given : default_deadline_;
  }
  bool has_deadline() const { return deadline() != std::chrono::system_clock::time_point::max(); }
  // True once the deadline passed or, for handlers on the pool and streams, once the client
  // cancelled or the connection went away. (Inline handlers must not block, so they are not told.)
  bool is_cancelled() const { return deadline_passed() || cancelled_by_client(); }
  // Whether the request message this handler got last (a unary call's request, or a stream's
  // latest Read) arrived compressed on the wire; it is always decompressed by then.
  bool request_compressed() const { return call_.request_compressed(); }
  // Only the client's cancel (or its connection going away), as is_cancelled() sees it.
  bool cancelled_by_client() const { return call_.cancelled(); }
  bool deadline_passed() const {
    const auto limit = deadline();
    return limit != std::chrono::system_clock::time_point::max() &&
           std::chrono::system_clock::now() > limit;
  }

  // True once this worker has begun to drain: a long stream should finish soon.
  bool draining() const { return draining_.load(std::memory_order_relaxed); }

  int slot() const { return slot_; }

  // The client's x-request-id, or the one gryphon made for the call ("" with --request-id off).
  const std::string& request_id() const { return request_id_; }
  // The W3C trace id of the call: its client's `traceparent`'s, or the one its first downstream
  // call started (gryphon/client.h); empty while it has neither.
  const std::string& trace_id() const;
  // The trace's flags ("01": sampled), with trace_id().
  const std::string& trace_flags() const {
    trace_id();
    return trace_flags_;
  }
  // trace_id(), started now when the call has none: what a downstream call carries.
  const std::string& trace_id_for_downstream();

 private:
  friend class internal::ContextAccess;  // dispatch creates contexts; the request-id interceptor
                                         // sets the id
  friend class testing::TestCall;        // handler unit tests (gryphon/testing.h)
  Context(detail::ServerCall& call, const std::atomic<bool>& draining, int slot)
      : call_(call), draining_(draining), slot_(slot) {}

  detail::ServerCall& call_;
  const std::atomic<bool>& draining_;
  int slot_;
  std::chrono::system_clock::time_point default_deadline_ =
      std::chrono::system_clock::time_point::max();
  std::string request_id_;
  mutable bool trace_checked_ = false;  // trace_id_ read from the client's traceparent
  mutable std::string trace_id_, trace_flags_;
  detail::AsyncScope* async_ = nullptr;  // an async handler's call: its loop and cancellation
};

}  // namespace gryphon
