// gryphon::detail::ServerCall: one call as a transport carries it — the seam between a transport
// (native HTTP/2 or gRPC C++) and everything above it (dispatch, Context, interceptors, handlers).
//
// A transport implements it once per call; gryphon::Context forwards to it. Nothing above the
// seam sees a transport's own types. Not for service code: include gryphon/context.h instead.
// Threading: one call's methods are called from one thread at a time (the thread running its
// handler); cancelled() may be called from any thread.
#pragma once

#include <chrono>
#include <functional>
#include <optional>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

#include <grpcpp/support/status.h>

#include "gryphon/compression.h"

namespace gryphon::detail {

class ServerCall {
 public:
  virtual ~ServerCall() = default;

  // "ipv4:127.0.0.1:53422", "ipv6:[::1]:4000" or "unix:"; read once, when the call starts.
  virtual const std::string& peer() = 0;
  // Request metadata (keys lower-case; -bin values decoded to bytes).
  virtual std::optional<std::string_view> find_metadata(std::string_view key) const = 0;
  virtual std::vector<std::string_view> metadata_values(std::string_view key) const = 0;
  // The client's deadline; time_point::max() when it sent none.
  virtual std::chrono::system_clock::time_point deadline() const = 0;
  // The client cancelled or its connection went away (for calls whose transport can tell).
  virtual bool cancelled() const = 0;
  // The request message the handler got last arrived compressed (its gRPC compressed flag).
  virtual bool request_compressed() const = 0;
  virtual void add_initial_metadata(const std::string& key, const std::string& value) = 0;
  virtual void add_trailing_metadata(const std::string& key, const std::string& value) = 0;
  virtual void set_compression(Compression algorithm) = 0;
  // Set when the transport ended the call itself — a response over --max-send-message-size, a
  // stream write that waited past --stream-write-timeout: the status the client gets, which
  // replaces whatever the handler returns (and is what interceptors log and count).
  virtual std::optional<grpc::Status> ended_by_transport() const { return std::nullopt; }
  // For an async handler's call, on its loop's thread: `hook` runs there once the call is
  // cancelled (the client cancels or goes away, the client's deadline passes, a drain's grace
  // ends), and at once if it already is. An empty hook removes it.
  void on_cancel(std::function<void()> hook) {
    cancel_hook_ = std::move(hook);
    if (cancel_hook_ && cancelled()) cancelled_now();
  }

 protected:
  // The transport reports the cancel, on the call's loop: the hook runs, once.
  void cancelled_now() {
    if (cancel_hook_) std::exchange(cancel_hook_, nullptr)();
  }

 private:
  std::function<void()> cancel_hook_;
};

}  // namespace gryphon::detail
