// Tests of the handlers in greeter.skeleton.cc, calling them directly. Created by `gryphon new`
// to pass against the untouched skeleton: change each expectation as you implement the method.
#include <gryphon/testing.h>

#include <catch2/catch.hpp>
#include <vector>

#include "greeter.skeleton.h"

using gryphon::testing::RecordingWriter;
using gryphon::testing::ScriptedReader;
using gryphon::testing::ScriptedStream;
using gryphon::testing::TestCall;
using gryphon::testing::TestStream;

TEST_CASE("GreeterImpl serves every method of helloworld.Greeter") {
  helloworld::GreeterImpl handler;
  CHECK(handler.gryphon_bind().methods.size() == helloworld::GreeterImpl::gryphon_info().methods.size());
}

TEST_CASE("/helloworld.Greeter/SayHello") {
  TestCall call;
  helloworld::GreeterImpl handler;
  helloworld::HelloRequest request;
  helloworld::HelloReply response;
  grpc::Status status = call.run(handler.SayHello(call.context(), request, response));
  CHECK(status.error_code() == grpc::StatusCode::UNIMPLEMENTED);
}

TEST_CASE("/helloworld.Greeter/SayHelloStream") {
  TestCall call;
  helloworld::GreeterImpl handler;
  helloworld::HelloRequest request;
  TestStream<helloworld::HelloReply> stream(call);
  grpc::Status status = call.run(handler.SayHelloStream(call.context(), request, stream.writer()));
  CHECK(status.error_code() == grpc::StatusCode::UNIMPLEMENTED);
  CHECK(stream.written.empty());
}

TEST_CASE("/helloworld.Greeter/SayHelloToAll") {
  TestCall call;
  helloworld::GreeterImpl handler;
  std::vector<helloworld::HelloRequest> requests(2);  // what the client sends
  TestStream<helloworld::HelloReply, helloworld::HelloRequest> stream(call, requests);
  helloworld::HelloReply response;
  grpc::Status status = call.run(handler.SayHelloToAll(call.context(), stream.reader(), response));
  CHECK(status.error_code() == grpc::StatusCode::UNIMPLEMENTED);
}

TEST_CASE("/helloworld.Greeter/Chat") {
  TestCall call;
  helloworld::GreeterImpl handler;
  std::vector<helloworld::HelloRequest> requests(2);  // what the client sends
  TestStream<helloworld::HelloReply, helloworld::HelloRequest> stream(call, requests);
  grpc::Status status = call.run(handler.Chat(call.context(), stream.reader_writer()));
  CHECK(status.error_code() == grpc::StatusCode::UNIMPLEMENTED);
  CHECK(stream.written.empty());
}
