// The binders generated code calls (one per RPC kind), and what they are built from. Each turns
// a member function of a handler into a type-erased MethodDef that parses the request and
// serialises the response. Not for service code: include the generated header instead.
#pragma once

#include <memory>
#include <string>
#include <string_view>

#include "gryphon/async.h"
#include "gryphon/handler.h"

namespace gryphon::detail {

template <class M>
bool parse(std::string_view bytes, M* message) {
  return message->ParseFromArray(bytes.data(), static_cast<int>(bytes.size()));
}

template <class M>
bool serialize(const M& message, std::string* bytes) {
  return message.SerializeToString(bytes);
}

// A message object for one unary call, reused by the next call on the same thread: a request
// parsed into a cleared message keeps the capacity of its strings and repeated fields, which
// spares the allocator several calls per RPC. An object is kept only when keep_if_small() saw a
// small wire size (a thread never holds on to a large message, nor to one a throwing handler left
// half-built); a nested call on the same thread gets a fresh object.
template <class M>
class ReusedMessage {
 public:
  static constexpr std::size_t kMaxKeptBytes = 4096;

  ReusedMessage() : message_(std::move(cached())) {
    if (!message_) message_ = std::make_unique<M>();
  }
  ~ReusedMessage() {
    if (!keep_ || cached()) return;  // dropped with message_
    message_->Clear();
    cached() = std::move(message_);
  }
  ReusedMessage(const ReusedMessage&) = delete;
  ReusedMessage& operator=(const ReusedMessage&) = delete;

  M& operator*() { return *message_; }
  M* get() { return message_.get(); }
  void keep_if_small(std::size_t wire_bytes) { keep_ = wire_bytes <= kMaxKeptBytes; }

 private:
  static std::unique_ptr<M>& cached() {
    thread_local std::unique_ptr<M> message;
    return message;
  }
  std::unique_ptr<M> message_;
  bool keep_ = false;
};

grpc::Status parse_error(std::string_view type_name);
grpc::Status serialize_error(std::string_view type_name);

template <class W>
class TypedWriter : public ServerWriter<W> {
 public:
  explicit TypedWriter(RawStream& stream) : stream_(stream) {}
  using ServerWriter<W>::Write;
  bool Write(const W& message, WriteOptions options) override {
    return serialize(message, &buffer_) && stream_.write(buffer_, options);
  }
  bool SendInitialMetadata() override { return stream_.send_initial_metadata(); }

 private:
  RawStream& stream_;
  std::string buffer_;  // keeps its capacity from message to message
};

template <class R>
class TypedReader : public ServerReader<R> {
 public:
  explicit TypedReader(RawStream& stream) : stream_(stream) {}
  bool Read(R* message) override {
    if (!stream_.read(buffer_)) return false;
    if (!parse(buffer_, message)) {
      failed_ = true;
      return false;
    }
    return true;
  }
  bool failed() const { return failed_; }
  bool SendInitialMetadata() override { return stream_.send_initial_metadata(); }

 private:
  RawStream& stream_;
  std::string buffer_;
  bool failed_ = false;
};

template <class W, class R>
class TypedReaderWriter : public ServerReaderWriter<W, R> {
 public:
  explicit TypedReaderWriter(RawStream& stream) : writer_(stream), reader_(stream) {}
  using ServerWriter<W>::Write;
  bool Write(const W& message, WriteOptions options) override {
    return writer_.Write(message, options);
  }
  bool Read(R* message) override { return reader_.Read(message); }
  bool SendInitialMetadata() override { return writer_.SendInitialMetadata(); }
  bool failed() const { return reader_.failed(); }

 private:
  TypedWriter<W> writer_;
  TypedReader<R> reader_;
};

template <class H, class Req, class Resp>
MethodDef bind_unary(std::string service, std::string method, H* handler,
                     grpc::Status (H::*fn)(Context&, const Req&, Resp&)) {
  MethodDef def{
      .service = std::move(service), .method = std::move(method), .type = RpcType::kUnary};
  def.unary = [handler, fn](Context& context, std::string_view in,
                            std::string& out) -> grpc::Status {
    ReusedMessage<Req> request;
    if (!parse(in, request.get())) return parse_error(Req::descriptor()->full_name());
    ReusedMessage<Resp> response;
    grpc::Status status = (handler->*fn)(context, *request, *response);
    request.keep_if_small(in.size());
    if (status.ok()) {
      if (!serialize(*response, &out)) return serialize_error(Resp::descriptor()->full_name());
      response.keep_if_small(out.size());
    }
    return status;
  };
  return def;
}

// An async unary call: parse, await the handler's coroutine, serialise. A coroutine of its own
// (not a lambda: GCC 12 mishandles coroutine lambdas with captures), its arguments copied into
// its frame; `in` and `out` belong to the call, which outlives it.
template <class H, class Req, class Resp>
Task<grpc::Status> serve_async_unary(H* handler,
                                     Task<grpc::Status> (H::*fn)(Context&, const Req&, Resp&),
                                     Context& context, std::string_view in, std::string& out) {
  Req request;
  if (!parse(in, &request)) co_return parse_error(Req::descriptor()->full_name());
  Resp response;
  grpc::Status status = co_await (handler->*fn)(context, request, response);
  if (status.ok() && !serialize(response, &out))
    co_return serialize_error(Resp::descriptor()->full_name());
  co_return status;
}

template <class H, class Req, class Resp>
MethodDef bind_unary(std::string service, std::string method, H* handler,
                     Task<grpc::Status> (H::*fn)(Context&, const Req&, Resp&)) {
  MethodDef def{
      .service = std::move(service), .method = std::move(method), .type = RpcType::kUnary};
  def.async_unary = [handler, fn](Context& context, std::string_view in, std::string& out) {
    return serve_async_unary<H, Req, Resp>(handler, fn, context, in, out);
  };
  return def;
}

template <class H, class Req, class Resp>
MethodDef bind_server_streaming(std::string service, std::string method, H* handler,
                                grpc::Status (H::*fn)(Context&, const Req&, ServerWriter<Resp>&)) {
  MethodDef def{.service = std::move(service),
                .method = std::move(method),
                .type = RpcType::kServerStreaming};
  def.stream = [handler, fn](Context& context, RawStream& stream) -> grpc::Status {
    std::string first;
    Req request;
    if (!stream.read(first)) {
      return grpc::Status(grpc::StatusCode::INTERNAL, "the client sent no request message");
    }
    if (!parse(first, &request)) return parse_error(Req::descriptor()->full_name());
    TypedWriter<Resp> writer(stream);
    return (handler->*fn)(context, request, writer);
  };
  return def;
}

template <class H, class Req, class Resp>
MethodDef bind_client_streaming(std::string service, std::string method, H* handler,
                                grpc::Status (H::*fn)(Context&, ServerReader<Req>&, Resp&)) {
  MethodDef def{.service = std::move(service),
                .method = std::move(method),
                .type = RpcType::kClientStreaming};
  def.stream = [handler, fn](Context& context, RawStream& stream) -> grpc::Status {
    TypedReader<Req> reader(stream);
    Resp response;
    grpc::Status status = (handler->*fn)(context, reader, response);
    if (reader.failed()) return parse_error(Req::descriptor()->full_name());
    if (!status.ok()) return status;
    std::string out;
    if (!serialize(response, &out)) {
      return serialize_error(Resp::descriptor()->full_name());
    }
    // The only response: it leaves together with the status.
    if (!stream.write(out, WriteOptions{.last_message = true})) {
      return grpc::Status(grpc::StatusCode::CANCELLED, "the call ended");
    }
    return status;
  };
  return def;
}

template <class H, class Req, class Resp>
MethodDef bind_bidi_streaming(std::string service, std::string method, H* handler,
                              grpc::Status (H::*fn)(Context&, ServerReaderWriter<Resp, Req>&)) {
  MethodDef def{
      .service = std::move(service), .method = std::move(method), .type = RpcType::kBidiStreaming};
  def.stream = [handler, fn](Context& context, RawStream& stream) -> grpc::Status {
    TypedReaderWriter<Resp, Req> reader_writer(stream);
    grpc::Status status = (handler->*fn)(context, reader_writer);
    if (reader_writer.failed()) return parse_error(Req::descriptor()->full_name());
    return status;
  };
  return def;
}

// The async streaming kinds, each a coroutine of its own as serve_async_unary is.
template <class H, class Req, class Resp>
Task<grpc::Status> serve_async_server_streaming(H* handler,
                                                Task<grpc::Status> (H::*fn)(Context&, const Req&,
                                                                            AsyncWriter<Resp>&),
                                                Context& context, AsyncStream& stream) {
  std::string first;
  const bool sent = co_await stream.read(first);  // (never co_await in a condition: async.h)
  if (!sent)
    co_return grpc::Status(grpc::StatusCode::INTERNAL, "the client sent no request message");
  Req request;
  if (!parse(first, &request)) co_return parse_error(Req::descriptor()->full_name());
  AsyncWriter<Resp> writer(stream);
  co_return co_await (handler->*fn)(context, request, writer);
}

template <class H, class Req, class Resp>
Task<grpc::Status> serve_async_client_streaming(
    H* handler, Task<grpc::Status> (H::*fn)(Context&, AsyncReader<Req>&, Resp&), Context& context,
    AsyncStream& stream) {
  AsyncReader<Req> reader(stream);
  Resp response;
  const grpc::Status status = co_await (handler->*fn)(context, reader, response);
  if (reader.failed()) co_return parse_error(Req::descriptor()->full_name());
  if (!status.ok()) co_return status;
  std::string out;
  if (!serialize(response, &out)) co_return serialize_error(Resp::descriptor()->full_name());
  // The only response: it leaves together with the status.
  const bool written = co_await stream.write(out, WriteOptions{.last_message = true});
  if (!written) co_return grpc::Status(grpc::StatusCode::CANCELLED, "the call ended");
  co_return status;
}

template <class H, class Req, class Resp>
Task<grpc::Status> serve_async_bidi_streaming(
    H* handler, Task<grpc::Status> (H::*fn)(Context&, AsyncReaderWriter<Resp, Req>&),
    Context& context, AsyncStream& stream) {
  AsyncReaderWriter<Resp, Req> reader_writer(stream);
  const grpc::Status status = co_await (handler->*fn)(context, reader_writer);
  if (reader_writer.failed()) co_return parse_error(Req::descriptor()->full_name());
  co_return status;
}

template <class H, class Req, class Resp>
MethodDef bind_server_streaming(std::string service, std::string method, H* handler,
                                Task<grpc::Status> (H::*fn)(Context&, const Req&,
                                                            AsyncWriter<Resp>&)) {
  MethodDef def{.service = std::move(service),
                .method = std::move(method),
                .type = RpcType::kServerStreaming};
  def.async_stream = [handler, fn](Context& context, AsyncStream& stream) {
    return serve_async_server_streaming<H, Req, Resp>(handler, fn, context, stream);
  };
  return def;
}

template <class H, class Req, class Resp>
MethodDef bind_client_streaming(std::string service, std::string method, H* handler,
                                Task<grpc::Status> (H::*fn)(Context&, AsyncReader<Req>&, Resp&)) {
  MethodDef def{.service = std::move(service),
                .method = std::move(method),
                .type = RpcType::kClientStreaming};
  def.async_stream = [handler, fn](Context& context, AsyncStream& stream) {
    return serve_async_client_streaming<H, Req, Resp>(handler, fn, context, stream);
  };
  return def;
}

template <class H, class Req, class Resp>
MethodDef bind_bidi_streaming(std::string service, std::string method, H* handler,
                              Task<grpc::Status> (H::*fn)(Context&,
                                                          AsyncReaderWriter<Resp, Req>&)) {
  MethodDef def{
      .service = std::move(service), .method = std::move(method), .type = RpcType::kBidiStreaming};
  def.async_stream = [handler, fn](Context& context, AsyncStream& stream) {
    return serve_async_bidi_streaming<H, Req, Resp>(handler, fn, context, stream);
  };
  return def;
}

}  // namespace gryphon::detail
