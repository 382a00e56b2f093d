// The contract between service code, generated code and gryphon's dispatch.
//
// Service teams implement a generated `<Service>Handler` interface (see protoc-gen-gryphon); each
// method receives a `gryphon::Context` and its messages by reference and returns a grpc::Status.
// The generated interface turns itself into a `ServiceDef`: a table of type-erased methods that
// gryphon's dispatch calls with raw wire bytes. Keeping parsing and serialisation in gryphon (not
// in gRPC) is what lets the interceptor chain see wire sizes in both directions, reject a call
// before the handler runs and record the final status.
//
// Threading: a handler object is created inside a worker process (never in the master) and is
// shared by every call of that worker: handler methods must be thread-safe. Unary handlers
// registered `inline` run on a completion-queue thread and must not block; all other handlers run
// on the worker's handler pool and may block. Streaming handlers always run on the pool.
#pragma once

#include <grpcpp/grpcpp.h>
#include <grpcpp/impl/codegen/proto_utils.h>
#include <grpcpp/support/byte_buffer.h>

#include <atomic>
#include <chrono>
#include <functional>
#include <memory>
#include <string>
#include <string_view>
#include <vector>

#include "gryphon/context.h"

namespace gryphon {

// kUnknown: a call to a method the server does not have (answered UNIMPLEMENTED, still logged
// and counted).
enum class RpcType { kUnary, kClientStreaming, kServerStreaming, kBidiStreaming, kUnknown };

// go-grpc-prometheus's grpc_type label values: unary, client_stream, server_stream, bidi_stream
// (and "unknown").
const char* rpc_type_name(RpcType type);

// How one message of a stream is sent.
struct WriteOptions {
  // Send this message uncompressed even though the call compresses (Context::set_compression):
  // for data that does not compress, or that must not (secrets next to attacker-chosen bytes).
  bool no_compression = false;
  // The message may wait and leave together with later ones: fewer, larger writes.
  bool buffer_hint = false;
  // The stream's final message: it is held back and leaves together with the status.
  bool last_message = false;
};

// A byte-level message stream for one call. Implemented by the dispatch; used by the typed
// adapters below. read() returns false when the client has finished sending (or the call died);
// write() and send_initial_metadata() return false when the call is dead.
class RawStream {
 public:
  virtual ~RawStream() = default;
  virtual bool read(grpc::ByteBuffer* message) = 0;
  virtual bool write(const grpc::ByteBuffer& message, const WriteOptions& options) = 0;
  bool write(const grpc::ByteBuffer& message) { return write(message, WriteOptions{}); }
  // Sends the response headers (with Context::add_initial_metadata's entries) now, before the
  // first message. Without it they leave with the first message or the status. Once only.
  virtual bool send_initial_metadata() = 0;
};

// Typed views handed to streaming handlers.
template <class W>
class ServerWriter {
 public:
  virtual ~ServerWriter() = default;
  // Sends one message; false once the call is dead (cancelled, deadline passed, client gone).
  virtual bool Write(const W& message, WriteOptions options) = 0;
  bool Write(const W& message) { return Write(message, WriteOptions{}); }
  // Sends the response headers now, so a client waiting for them need not wait for data.
  virtual bool SendInitialMetadata() = 0;
};

template <class R>
class ServerReader {
 public:
  virtual ~ServerReader() = default;
  // Receives the next message; false once the client has finished sending.
  virtual bool Read(R* message) = 0;
  // Sends the response headers now, before the response.
  virtual bool SendInitialMetadata() = 0;
};

template <class W, class R>
class ServerReaderWriter : public ServerWriter<W>, public ServerReader<R> {
 public:
  bool SendInitialMetadata() override = 0;  // one function for both sides
};

// One RPC method as dispatch sees it. `unary` is set for unary methods, `stream` for the three
// streaming kinds.
struct MethodDef {
  std::string service;  // fully-qualified service name, e.g. "helloworld.Greeter"
  std::string method;   // e.g. "SayHello"
  RpcType type = RpcType::kUnary;
  // The request's wire bytes (the method may consume them) and the response to fill.
  std::function<grpc::Status(Context&, grpc::ByteBuffer&, grpc::ByteBuffer*)> unary;
  std::function<grpc::Status(Context&, RawStream&)> stream;

  std::string path() const { return "/" + service + "/" + method; }
};

// The names of a service's methods, known without creating the handler. The master uses this
// (never the handler) to lay out per-method metrics before it forks.
struct MethodInfo {
  std::string method;
  RpcType type;
};
struct ServiceInfo {
  std::string service;
  std::vector<MethodInfo> methods;
};

struct ServiceDef {
  std::string service;
  std::vector<MethodDef> methods;
};

// Base of every generated handler interface.
class Handler {
 public:
  virtual ~Handler() = default;
  // Binds this object's methods into a dispatch table. The table borrows `this`.
  virtual ServiceDef gryphon_bind() = 0;
};

namespace internal {

// Parses and consumes `buffer` (it is left empty).
template <class M>
bool parse(grpc::ByteBuffer* buffer, M* message) {
  return grpc::GenericDeserialize<grpc::ProtoBufferReader, M>(buffer, message).ok();
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

template <class M>
bool serialize(const M& message, grpc::ByteBuffer* buffer) {
  bool own_buffer;
  return grpc::GenericSerialize<grpc::ProtoBufferWriter, M>(message, buffer, &own_buffer).ok();
}

grpc::Status parse_error(std::string_view type_name);
grpc::Status serialize_error(std::string_view type_name);

template <class W>
class TypedWriter : public ServerWriter<W> {
 public:
  explicit TypedWriter(RawStream& stream) : stream_(stream) {}
  using ServerWriter<W>::Write;
  bool Write(const W& message, WriteOptions options) override {
    grpc::ByteBuffer buffer;
    return serialize(message, &buffer) && stream_.write(buffer, options);
  }
  bool SendInitialMetadata() override { return stream_.send_initial_metadata(); }

 private:
  RawStream& stream_;
};

template <class R>
class TypedReader : public ServerReader<R> {
 public:
  explicit TypedReader(RawStream& stream) : stream_(stream) {}
  bool Read(R* message) override {
    grpc::ByteBuffer buffer;
    if (!stream_.read(&buffer)) return false;
    if (!parse(&buffer, message)) {
      failed_ = true;
      return false;
    }
    return true;
  }
  bool failed() const { return failed_; }
  bool SendInitialMetadata() override { return stream_.send_initial_metadata(); }

 private:
  RawStream& stream_;
  bool failed_ = false;
};

template <class W, class R>
class TypedReaderWriter : public ServerReaderWriter<W, R> {
 public:
  explicit TypedReaderWriter(RawStream& stream) : writer_(stream), reader_(stream) {}
  using ServerWriter<W>::Write;
  bool Write(const W& message, WriteOptions options) override { return writer_.Write(message, options); }
  bool Read(R* message) override { return reader_.Read(message); }
  bool SendInitialMetadata() override { return writer_.SendInitialMetadata(); }
  bool failed() const { return reader_.failed(); }

 private:
  TypedWriter<W> writer_;
  TypedReader<R> reader_;
};

}  // namespace internal

// The binders the generated glue calls: one per RPC kind. Each turns a member function of a
// handler into a type-erased MethodDef that parses the request and serialises the response.
template <class H, class Req, class Resp>
MethodDef bind_unary(std::string service, std::string method, H* handler,
                     grpc::Status (H::*fn)(Context&, const Req&, Resp&)) {
  MethodDef def{std::move(service), std::move(method), RpcType::kUnary, {}, {}};
  def.unary = [handler, fn](Context& context, grpc::ByteBuffer& in, grpc::ByteBuffer* out) -> grpc::Status {
    internal::ReusedMessage<Req> request;
    const std::size_t request_bytes = in.Length();
    if (!internal::parse(&in, request.get())) return internal::parse_error(Req::descriptor()->full_name());
    internal::ReusedMessage<Resp> response;
    grpc::Status status = (handler->*fn)(context, *request, *response);
    request.keep_if_small(request_bytes);
    if (status.ok()) {
      if (!internal::serialize(*response, out)) return internal::serialize_error(Resp::descriptor()->full_name());
      response.keep_if_small(out->Length());
    }
    return status;
  };
  return def;
}

template <class H, class Req, class Resp>
MethodDef bind_server_streaming(std::string service, std::string method, H* handler,
                                grpc::Status (H::*fn)(Context&, const Req&, ServerWriter<Resp>&)) {
  MethodDef def{std::move(service), std::move(method), RpcType::kServerStreaming, {}, {}};
  def.stream = [handler, fn](Context& context, RawStream& stream) -> grpc::Status {
    grpc::ByteBuffer first;
    Req request;
    if (!stream.read(&first)) {
      return grpc::Status(grpc::StatusCode::INTERNAL, "the client sent no request message");
    }
    if (!internal::parse(&first, &request)) return internal::parse_error(Req::descriptor()->full_name());
    internal::TypedWriter<Resp> writer(stream);
    return (handler->*fn)(context, request, writer);
  };
  return def;
}

template <class H, class Req, class Resp>
MethodDef bind_client_streaming(std::string service, std::string method, H* handler,
                                grpc::Status (H::*fn)(Context&, ServerReader<Req>&, Resp&)) {
  MethodDef def{std::move(service), std::move(method), RpcType::kClientStreaming, {}, {}};
  def.stream = [handler, fn](Context& context, RawStream& stream) -> grpc::Status {
    internal::TypedReader<Req> reader(stream);
    Resp response;
    grpc::Status status = (handler->*fn)(context, reader, response);
    if (reader.failed()) return internal::parse_error(Req::descriptor()->full_name());
    if (!status.ok()) return status;
    grpc::ByteBuffer out;
    if (!internal::serialize(response, &out)) {
      return internal::serialize_error(Resp::descriptor()->full_name());
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
  MethodDef def{std::move(service), std::move(method), RpcType::kBidiStreaming, {}, {}};
  def.stream = [handler, fn](Context& context, RawStream& stream) -> grpc::Status {
    internal::TypedReaderWriter<Resp, Req> reader_writer(stream);
    grpc::Status status = (handler->*fn)(context, reader_writer);
    if (reader_writer.failed()) return internal::parse_error(Req::descriptor()->full_name());
    return status;
  };
  return def;
}

}  // namespace gryphon
