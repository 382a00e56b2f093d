// gryphon::Context: what a handler knows about the call it serves.
//
// One Context exists per call, owned by gryphon's dispatch and valid only for the duration of the
// handler invocation. It wraps the grpc::ServerContext (still reachable through grpc() for anything
// not covered here) and adds what gryphon knows: the worker's slot, the request id chosen by the
// request-id interceptor, and whether the worker is draining — long-running streams should check
// draining() and end so their clients reconnect to a worker that is not going away.
#pragma once

#include <grpcpp/server_context.h>

#include <atomic>
#include <chrono>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

namespace gryphon {

// Message compression for responses (gRPC's `grpc-encoding`).
enum class Compression { kNone, kDeflate, kGzip };

class Context {
 public:
  // `cancel_observable`: gRPC will report a cancel for this call (dispatch asked for its done
  // notification). Without it, only a passed deadline counts as cancelled.
  Context(grpc::ServerContext& server_context, const std::atomic<bool>& draining, int slot, bool cancel_observable)
      : server_context_(server_context), draining_(draining), slot_(slot), cancel_observable_(cancel_observable) {}
  Context(const Context&) = delete;
  Context& operator=(const Context&) = delete;

  grpc::ServerContext& grpc() { return server_context_; }

  // The client's address as gRPC reports it, e.g. "ipv4:127.0.0.1:53422" or "unix:". Read once
  // and kept: gRPC forgets the peer of a call that ended by deadline or cancel.
  const std::string& peer() const {
    if (peer_.empty()) peer_ = server_context_.peer();
    return peer_;
  }

  // Client metadata. Keys are lower-case; values of `-bin` keys are the decoded bytes.
  // The first value of `key`, or empty when absent (see find_metadata to tell the two apart).
  std::string_view metadata(std::string_view key) const;
  // The first value of `key`, or nullopt when the client did not send it.
  std::optional<std::string_view> find_metadata(std::string_view key) const;
  // Every value of a key the client sent more than once, in the order it sent them.
  std::vector<std::string_view> metadata_values(std::string_view key) const;

  // Compresses this call's response messages with `algorithm` when the client accepts it
  // (grpc-accept-encoding); a stream can still send single messages uncompressed
  // (WriteOptions::no_compression). The choice travels in the response headers: call it before
  // they are sent (the first message, or SendInitialMetadata).
  void set_compression(Compression algorithm);

  // Metadata sent back to the client with the response headers / trailers.
  void add_initial_metadata(const std::string& key, const std::string& value) {
    server_context_.AddInitialMetadata(key, value);
  }
  void add_trailing_metadata(const std::string& key, const std::string& value) {
    server_context_.AddTrailingMetadata(key, value);
  }

  // The client's deadline, or the server's --default-deadline for a unary call that came without.
  std::chrono::system_clock::time_point deadline() const {
    const auto given = server_context_.deadline();
    return given != std::chrono::system_clock::time_point::max() ? given : default_deadline_;
  }
  bool has_deadline() const { return deadline() != std::chrono::system_clock::time_point::max(); }
  void set_default_deadline(std::chrono::system_clock::time_point deadline) { default_deadline_ = deadline; }
  // True once the deadline passed or, for handlers on the pool and streams, once the client
  // cancelled or the connection went away. (Inline handlers must not block, so they are not told.)
  bool is_cancelled() const;
  // Only the client's cancel (or its connection going away), as is_cancelled() sees it.
  bool cancelled_by_client() const;
  bool deadline_passed() const {
    const auto limit = deadline();
    return limit != std::chrono::system_clock::time_point::max() && std::chrono::system_clock::now() > limit;
  }

  // True once this worker has begun to drain: a long stream should finish soon.
  bool draining() const { return draining_.load(std::memory_order_relaxed); }

  int slot() const { return slot_; }

  const std::string& request_id() const { return request_id_; }
  void set_request_id(std::string id) { request_id_ = std::move(id); }

 private:
  grpc::ServerContext& server_context_;
  const std::atomic<bool>& draining_;
  int slot_;
  bool cancel_observable_;
  std::chrono::system_clock::time_point default_deadline_ = std::chrono::system_clock::time_point::max();
  std::string request_id_;
  mutable std::string peer_;
};

}  // namespace gryphon
