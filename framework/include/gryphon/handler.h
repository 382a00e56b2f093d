// The contract between service code, generated code and gryphon's dispatch.
//
// Service teams implement a generated `<Service>Handler` interface (see protoc-gen-gryphon); each
// method receives a `gryphon::Context` and its messages by reference and returns a grpc::Status.
// Streaming methods get the typed ServerWriter / ServerReader / ServerReaderWriter views below.
// The generated interface turns itself into a `ServiceDef`: a table of type-erased methods that
// gryphon's dispatch calls with wire bytes. Keeping parsing and serialisation in gryphon (not in
// the transport) is what lets the interceptor chain see wire sizes in both directions, reject a
// call before the handler runs and record the final status.
//
// Threading: a handler object is created inside a worker process (never in the master) and is
// shared by every call of that worker: handler methods must be thread-safe. Unary handlers
// registered `inline` run on the transport's I/O thread and must not block; all other handlers
// run on the worker's handler pool and may block. Streaming handlers always run on the pool.
#pragma once

#include <grpcpp/support/status.h>

#include <functional>
#include <string>
#include <string_view>
#include <vector>

#include "gryphon/async.h"
#include "gryphon/context.h"
#include "gryphon/write_options.h"

namespace gryphon {

// kUnknown: a call to a method the server does not have (answered UNIMPLEMENTED, still logged
// and counted).
enum class RpcType { kUnary, kClientStreaming, kServerStreaming, kBidiStreaming, kUnknown };

// go-grpc-prometheus's grpc_type label values: unary, client_stream, server_stream, bidi_stream
// (and "unknown").
const char* rpc_type_name(RpcType type);

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

// A byte-level message stream for one call, implemented by the transport (through dispatch) and
// used by the typed views. read() returns false when the client has finished sending (or the
// call died); write() and send_initial_metadata() return false when the call is dead.
class RawStream {
 public:
  virtual ~RawStream() = default;
  virtual bool read(std::string& message) = 0;
  virtual bool write(std::string_view message, const WriteOptions& options) = 0;
  bool write(std::string_view message) { return write(message, WriteOptions{}); }
  // Sends the response headers (with Context::add_initial_metadata's entries) now, before the
  // first message. Without it they leave with the first message or the status. Once only.
  virtual bool send_initial_metadata() = 0;
};

// One RPC method as dispatch sees it. `unary` is set for unary methods, `stream` for the three
// streaming kinds; an async handler's methods set `async_unary` / `async_stream` instead
// (coroutines run on the call's loop).
struct MethodDef {
  std::string service;  // fully-qualified service name, e.g. "helloworld.Greeter"
  std::string method;   // e.g. "SayHello"
  RpcType type = RpcType::kUnary;
  // One of these is set, for the method's kind (`= {}`: a definition names only that one). The
  // request's wire bytes and the response's to fill (it arrives empty, with capacity).
  std::function<grpc::Status(Context&, std::string_view request, std::string& response)> unary = {};
  std::function<grpc::Status(Context&, RawStream&)> stream = {};
  std::function<Task<grpc::Status>(Context&, std::string_view request, std::string& response)>
      async_unary = {};
  std::function<Task<grpc::Status>(Context&, detail::AsyncStream&)> async_stream = {};
  bool is_async() const { return async_unary || async_stream; }

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

}  // namespace gryphon

// bind_unary() and the other binders the generated glue calls.
#include "gryphon/detail/binding.h"
