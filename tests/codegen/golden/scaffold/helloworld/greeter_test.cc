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
  grpc::Status status = handler.SayHello(call.context(), request, response);
  CHECK(status.error_code() == grpc::StatusCode::UNIMPLEMENTED);
}

TEST_CASE("/helloworld.Greeter/SayHelloStream") {
  TestCall call;
  helloworld::GreeterImpl handler;
  helloworld::HelloRequest request;
  RecordingWriter<helloworld::HelloReply> writer;
  grpc::Status status = handler.SayHelloStream(call.context(), request, writer);
  CHECK(status.error_code() == grpc::StatusCode::UNIMPLEMENTED);
  CHECK(writer.written.empty());
}

TEST_CASE("/helloworld.Greeter/SayHelloToAll") {
  TestCall call;
  helloworld::GreeterImpl handler;
  std::vector<helloworld::HelloRequest> requests(2);  // what the client sends
  ScriptedReader<helloworld::HelloRequest> reader(requests);
  helloworld::HelloReply response;
  grpc::Status status = handler.SayHelloToAll(call.context(), reader, response);
  CHECK(status.error_code() == grpc::StatusCode::UNIMPLEMENTED);
}

TEST_CASE("/helloworld.Greeter/Chat") {
  TestCall call;
  helloworld::GreeterImpl handler;
  std::vector<helloworld::HelloRequest> requests(2);  // what the client sends
  ScriptedStream<helloworld::HelloReply, helloworld::HelloRequest> stream(requests);
  grpc::Status status = handler.Chat(call.context(), stream);
  CHECK(status.error_code() == grpc::StatusCode::UNIMPLEMENTED);
  CHECK(stream.written().empty());
}
