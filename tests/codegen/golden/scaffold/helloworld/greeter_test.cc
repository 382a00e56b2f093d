// Tests of the handlers in greeter.skeleton.cc, calling them directly. Created by `gryphon new`
// to pass against the untouched skeleton: change each expectation as you implement the method.
#include <grpcpp/server_context.h>

#include <atomic>
#include <catch2/catch.hpp>
#include <deque>
#include <vector>

#include "greeter.skeleton.h"

namespace {

// What a handler receives from gryphon's dispatch, for a call made outside a server.
struct TestCall {
  grpc::ServerContext server_context;
  std::atomic<bool> draining{false};
  gryphon::Context context{server_context, draining, /*slot=*/0, /*cancel_observable=*/false};
};

// In-memory streams: a writer that keeps what the handler sends, a reader that replays a script.
template <class W>
class RecordingWriter : public gryphon::ServerWriter<W> {
 public:
  bool Write(const W& message) override {
    written.push_back(message);
    return true;
  }
  std::vector<W> written;
};

template <class R>
class ScriptedReader : public gryphon::ServerReader<R> {
 public:
  explicit ScriptedReader(const std::vector<R>& script) : script_(script.begin(), script.end()) {}
  bool Read(R* message) override {
    if (script_.empty()) return false;
    *message = std::move(script_.front());
    script_.pop_front();
    return true;
  }

 private:
  std::deque<R> script_;
};

template <class W, class R>
class ScriptedStream : public gryphon::ServerReaderWriter<W, R> {
 public:
  explicit ScriptedStream(const std::vector<R>& script) : reader_(script) {}
  bool Read(R* message) override { return reader_.Read(message); }
  bool Write(const W& message) override { return writer_.Write(message); }
  const std::vector<W>& written() const { return writer_.written; }

 private:
  ScriptedReader<R> reader_;
  RecordingWriter<W> writer_;
};

}  // namespace

TEST_CASE("GreeterImpl serves every method of helloworld.Greeter") {
  helloworld::GreeterImpl handler;
  CHECK(handler.gryphon_bind().methods.size() == helloworld::GreeterImpl::gryphon_info().methods.size());
}

TEST_CASE("/helloworld.Greeter/SayHello") {
  TestCall call;
  helloworld::GreeterImpl handler;
  helloworld::HelloRequest request;
  helloworld::HelloReply response;
  grpc::Status status = handler.SayHello(call.context, request, response);
  CHECK(status.error_code() == grpc::StatusCode::UNIMPLEMENTED);
}

TEST_CASE("/helloworld.Greeter/SayHelloStream") {
  TestCall call;
  helloworld::GreeterImpl handler;
  helloworld::HelloRequest request;
  RecordingWriter<helloworld::HelloReply> writer;
  grpc::Status status = handler.SayHelloStream(call.context, request, writer);
  CHECK(status.error_code() == grpc::StatusCode::UNIMPLEMENTED);
  CHECK(writer.written.empty());
}

TEST_CASE("/helloworld.Greeter/SayHelloToAll") {
  TestCall call;
  helloworld::GreeterImpl handler;
  std::vector<helloworld::HelloRequest> requests(2);  // what the client sends
  ScriptedReader<helloworld::HelloRequest> reader(requests);
  helloworld::HelloReply response;
  grpc::Status status = handler.SayHelloToAll(call.context, reader, response);
  CHECK(status.error_code() == grpc::StatusCode::UNIMPLEMENTED);
}

TEST_CASE("/helloworld.Greeter/Chat") {
  TestCall call;
  helloworld::GreeterImpl handler;
  std::vector<helloworld::HelloRequest> requests(2);  // what the client sends
  ScriptedStream<helloworld::HelloReply, helloworld::HelloRequest> stream(requests);
  grpc::Status status = handler.Chat(call.context, stream);
  CHECK(status.error_code() == grpc::StatusCode::UNIMPLEMENTED);
  CHECK(stream.written().empty());
}
