// main.cc and <stem>_test.cc of a project created by `gryphon new` (scaffold=NAME): the server's
// entry point registering every skeleton class, and a Catch2 test that calls each handler method
// directly, with in-memory streams, the way a team would test its handlers.
#include "files.h"
#include "text.h"

namespace gryphon::codegen {
namespace {

constexpr const char* kMain = R"(// $name$: a gryphon service created by `gryphon new` from $proto$.
//
// Run `$name$ --help` for the options (listen addresses, workers, drain timeouts, ...).
#include <gryphon/server.h>

#include "$stem$.skeleton.h"

int main(int argc, char** argv) {
  gryphon::Server server("$name$");
$registrations$  return server.run(argc, argv);
}
)";

constexpr const char* kTest =
    R"(// Tests of the handlers in $basename$.skeleton.cc, calling them directly. Created by `gryphon new`
// to pass against the untouched skeleton: change each expectation as you implement the method.
#include <gryphon/testing.h>

#include <catch2/catch.hpp>
#include <vector>

#include "$basename$.skeleton.h"

using gryphon::testing::RecordingWriter;
using gryphon::testing::ScriptedReader;
using gryphon::testing::ScriptedStream;
using gryphon::testing::TestCall;
using gryphon::testing::TestStream;
$cases$)";

constexpr const char* kBindCase = R"(
TEST_CASE("$impl$ serves every method of $full_name$") {
  $qimpl$ handler;
  CHECK(handler.gryphon_bind().methods.size() == $qimpl$::gryphon_info().methods.size());
}
)";

constexpr const char* kUnaryCase = R"(
TEST_CASE("$path$") {
  TestCall call;
  $qimpl$ handler;
  $request$ request;
  $response$ response;
  grpc::Status status = handler.$method$(call.context(), request, response);
  CHECK(status.error_code() == grpc::StatusCode::UNIMPLEMENTED);
}
)";

// The same for an async skeleton's unary method: TestCall::run drives the coroutine.
constexpr const char* kAsyncUnaryCase = R"(
TEST_CASE("$path$") {
  TestCall call;
  $qimpl$ handler;
  $request$ request;
  $response$ response;
  grpc::Status status = call.run(handler.$method$(call.context(), request, response));
  CHECK(status.error_code() == grpc::StatusCode::UNIMPLEMENTED);
}
)";

constexpr const char* kServerStreamingCase = R"(
TEST_CASE("$path$") {
  TestCall call;
  $qimpl$ handler;
  $request$ request;
  RecordingWriter<$response$> writer;
  grpc::Status status = handler.$method$(call.context(), request, writer);
  CHECK(status.error_code() == grpc::StatusCode::UNIMPLEMENTED);
  CHECK(writer.written.empty());
}
)";

constexpr const char* kClientStreamingCase = R"(
TEST_CASE("$path$") {
  TestCall call;
  $qimpl$ handler;
  std::vector<$request$> requests(2);  // what the client sends
  ScriptedReader<$request$> reader(requests);
  $response$ response;
  grpc::Status status = handler.$method$(call.context(), reader, response);
  CHECK(status.error_code() == grpc::StatusCode::UNIMPLEMENTED);
}
)";

constexpr const char* kBidiStreamingCase = R"(
TEST_CASE("$path$") {
  TestCall call;
  $qimpl$ handler;
  std::vector<$request$> requests(2);  // what the client sends
  ScriptedStream<$response$, $request$> stream(requests);
  grpc::Status status = handler.$method$(call.context(), stream);
  CHECK(status.error_code() == grpc::StatusCode::UNIMPLEMENTED);
  CHECK(stream.written().empty());
}
)";

// An async skeleton's streaming methods: TestStream plays the client, TestCall::run drives them.
constexpr const char* kAsyncServerStreamingCase = R"(
TEST_CASE("$path$") {
  TestCall call;
  $qimpl$ handler;
  $request$ request;
  TestStream<$response$> stream(call);
  grpc::Status status = call.run(handler.$method$(call.context(), request, stream.writer()));
  CHECK(status.error_code() == grpc::StatusCode::UNIMPLEMENTED);
  CHECK(stream.written.empty());
}
)";

constexpr const char* kAsyncClientStreamingCase = R"(
TEST_CASE("$path$") {
  TestCall call;
  $qimpl$ handler;
  std::vector<$request$> requests(2);  // what the client sends
  TestStream<$response$, $request$> stream(call, requests);
  $response$ response;
  grpc::Status status = call.run(handler.$method$(call.context(), stream.reader(), response));
  CHECK(status.error_code() == grpc::StatusCode::UNIMPLEMENTED);
}
)";

constexpr const char* kAsyncBidiStreamingCase = R"(
TEST_CASE("$path$") {
  TestCall call;
  $qimpl$ handler;
  std::vector<$request$> requests(2);  // what the client sends
  TestStream<$response$, $request$> stream(call, requests);
  grpc::Status status = call.run(handler.$method$(call.context(), stream.reader_writer()));
  CHECK(status.error_code() == grpc::StatusCode::UNIMPLEMENTED);
  CHECK(stream.written.empty());
}
)";

const char* case_template(RpcType kind, bool async) {
  if (async) {
    switch (kind) {
      case RpcType::kUnary: return kAsyncUnaryCase;
      case RpcType::kServerStreaming: return kAsyncServerStreamingCase;
      case RpcType::kClientStreaming: return kAsyncClientStreamingCase;
      case RpcType::kBidiStreaming: return kAsyncBidiStreamingCase;
    }
  }
  switch (kind) {
    case RpcType::kUnary: return kUnaryCase;
    case RpcType::kServerStreaming: return kServerStreamingCase;
    case RpcType::kClientStreaming: return kClientStreamingCase;
    case RpcType::kBidiStreaming: return kBidiStreamingCase;
  }
  return kUnaryCase;
}

// "::a::B" as written at global scope, where the leading "::" only adds noise.
std::string global_scope(const std::string& qualified_name) {
  return qualified_name.starts_with("::") ? qualified_name.substr(2) : qualified_name;
}

std::string qualified(const FileModel& file, const std::string& name) {
  return file.cpp_namespace.empty() ? name : file.cpp_namespace + "::" + name;
}

}  // namespace

std::string scaffold_main(const FileModel& file, const GeneratorOptions& options) {
  std::string registrations;
  for (const ServiceModel& service : file.services) {
    registrations +=
        fill("  server.add_service<$impl$>();\n", {{"impl", qualified(file, service.impl_class)}});
  }
  return fill(kMain, {{"name", options.scaffold},
                      {"proto", file.proto_path},
                      {"stem", file.stem},
                      {"registrations", registrations}});
}

std::string scaffold_test(const FileModel& file, const GeneratorOptions& options) {
  std::string cases;
  for (const ServiceModel& service : file.services) {
    const std::string qimpl = qualified(file, service.impl_class);
    cases +=
        fill(kBindCase,
             {{"impl", service.impl_class}, {"full_name", service.full_name}, {"qimpl", qimpl}});
    for (const MethodModel& method : service.methods) {
      cases += fill(case_template(method.kind, options.async),
                    {{"path", "/" + service.full_name + "/" + method.proto_name},
                     {"qimpl", qimpl},
                     {"method", method.cpp_name},
                     {"request", global_scope(method.request.qualified)},
                     {"response", global_scope(method.response.qualified)}});
    }
  }
  return fill(kTest, {{"basename", file.basename}, {"cases", cases}});
}

}  // namespace gryphon::codegen
