// What the gRPC transport's call objects share (grpc_calls.cc, grpc_stream_call.cc): byte buffer
// conversions, detail::ServerCall over a grpc::ServerContext, and the completion-queue tags that
// drop a reference or run one step of a call.
#pragma once

#include <grpcpp/server_context.h>
#include <grpcpp/support/byte_buffer.h>

#include <boost/asio/io_context.hpp>
#include <boost/asio/post.hpp>

#include <string>
#include <string_view>

#include "transport/grpc/grpc_calls.h"

std::uint32_t grpc_call_test_only_get_message_flags(grpc_call* call);  // see GrpcServerCall

namespace gryphon::internal::grpc_transport {

// The bytes of a gRPC byte buffer: a view of its one slice when it has one (kept alive in
// `single`), else a copy into `copy`.
std::string_view bytes_of(const grpc::ByteBuffer& buffer, grpc::Slice& single, std::string& copy);
grpc::ByteBuffer to_buffer(std::string_view bytes);
grpc::WriteOptions grpc_options(const WriteOptions& options);

// detail::ServerCall over a grpc::ServerContext.
// gRPC 1.51 tells whether a received message was compressed only through this function, exported
// by libgrpc and declared in its internal call_test_only.h (gRPC's own interop server reads it
// the same way), with these internal message flags (src/core/lib/transport/transport.h).
constexpr std::uint32_t kWasCompressed = 0x40000000u;     // arrived compressed, now inflated
constexpr std::uint32_t kInternalCompress = 0x80000000u;  // still compressed

class GrpcServerCall final : public detail::ServerCall {
 public:
  // `cancel_observable`: gRPC will report a cancel for this call (its done notification was
  // requested). ServerContext::IsCancelled() crashes on an async call that did not request it.
  void reset(grpc::ServerContext* context, bool cancel_observable) {
    context_ = context;
    cancel_observable_ = cancel_observable;
    peer_.clear();
    ended_.reset();
    on_cancel(nullptr);
  }
  using detail::ServerCall::cancelled_now;  // gRPC's done notification reports a cancel
  // The transport ends the call itself (a stream write that timed out), handler thread.
  void end(grpc::Status status) { ended_ = std::move(status); }
  std::optional<grpc::Status> ended_by_transport() const override { return ended_; }
  const std::string& peer() override {
    if (peer_.empty()) peer_ = context_->peer();
    return peer_;
  }
  std::optional<std::string_view> find_metadata(std::string_view key) const override {
    const auto& metadata = context_->client_metadata();
    auto it = metadata.find(grpc::string_ref(key.data(), key.size()));
    if (it == metadata.end()) return std::nullopt;
    return std::string_view(it->second.data(), it->second.size());
  }
  std::vector<std::string_view> metadata_values(std::string_view key) const override {
    std::vector<std::string_view> values;
    const auto [first, last] =
        context_->client_metadata().equal_range(grpc::string_ref(key.data(), key.size()));
    for (auto it = first; it != last; ++it)
      values.emplace_back(it->second.data(), it->second.size());
    return values;
  }
  std::chrono::system_clock::time_point deadline() const override { return context_->deadline(); }
  bool cancelled() const override { return cancel_observable_ && context_->IsCancelled(); }
  bool request_compressed() const override {
    return (grpc_call_test_only_get_message_flags(context_->c_call()) &
            (kWasCompressed | kInternalCompress)) != 0;
  }
  void add_initial_metadata(const std::string& key, const std::string& value) override {
    context_->AddInitialMetadata(key, value);
  }
  void add_trailing_metadata(const std::string& key, const std::string& value) override {
    context_->AddTrailingMetadata(key, value);
  }
  void set_compression(Compression algorithm) override {
    switch (algorithm) {
      case Compression::kNone: context_->set_compression_algorithm(GRPC_COMPRESS_NONE); break;
      case Compression::kDeflate: context_->set_compression_algorithm(GRPC_COMPRESS_DEFLATE); break;
      case Compression::kGzip: context_->set_compression_algorithm(GRPC_COMPRESS_GZIP); break;
    }
  }

 private:
  grpc::ServerContext* context_ = nullptr;
  bool cancel_observable_ = false;
  std::string peer_;
  std::optional<grpc::Status> ended_;
};

// Drops one reference of a call when its event arrives (gRPC's done notification, or a finish
// nobody waits for).
template <class Call>
class Unref final : public Tag {
 public:
  explicit Unref(Call* call) : call_(call) {}
  void proceed(bool) override { call_->unref(); }

 private:
  Call* call_;
};

// Runs one member function of a call when its event arrives.
template <class Call>
class Step final : public Tag {
 public:
  Step(Call* call, void (Call::*then)(bool)) : call_(call), then_(then) {}
  void proceed(bool ok) override { (call_->*then_)(ok); }

 private:
  Call* call_;
  void (Call::*then_)(bool);
};

// gRPC's done notification of an async handler's call, from a CQ thread: on the call's loop, a
// cancel wakes what the coroutine awaits (ServerCall::on_cancel's hook), then `owner` drops the
// notification's reference.
template <class Call>
void report_done(boost::asio::io_context& loop, grpc::ServerContext& context, GrpcServerCall& call,
                 Call* owner) {
  boost::asio::post(loop, [&context, &call, owner] {
    if (context.IsCancelled()) call.cancelled_now();
    owner->unref();
  });
}

// Requests one streaming call of method `index` (grpc_stream_call.cc).
void request_stream_call(CallShared& shared, const Queue& queue, const BoundMethod& method,
                         int index);

}  // namespace gryphon::internal::grpc_transport
