// Server reflection against the real drill server, as grpcurl and grpc_cli use it.
//
// A gRPC C++ client with stubs generated from gRPC's own reflection protos (v1alpha, which gRPC
// 1.51 clients and grpcurl speak, and v1) asks each worker, over one stream, for its services and
// for the descriptors of the greeter's and the Drill service's files, and compares what comes back
// with the descriptors protoc generated into this test binary. The built-in services' files
// (health, reflection) are compared the same way: the drill server does not link their generated
// code, so they come from gryphon's own copies.
#include <google/protobuf/descriptor.pb.h>
#include <google/protobuf/util/message_differencer.h>
#include <grpcpp/grpcpp.h>

#include <catch2/catch.hpp>
#include <chrono>
#include <iostream>
#include <set>
#include <string>
#include <vector>

#include "drill.grpc.pb.h"
#include "greeter.pb.h"
#include "grpc/health/v1/health.pb.h"
#include "grpc/reflection/v1/reflection.grpc.pb.h"
#include "grpc/reflection/v1alpha/reflection.grpc.pb.h"
#include "harness.h"

using namespace gryphon::test;
namespace v1alpha = grpc::reflection::v1alpha;
using google::protobuf::FileDescriptorProto;

namespace {

const std::vector<std::string> kServices{"helloworld.Greeter",
                                         "gryphon.test.Drill",
                                         "gryphon.test.AsyncDrill",
                                         "grpc.health.v1.Health",
                                         "grpc.reflection.v1alpha.ServerReflection",
                                         "grpc.reflection.v1.ServerReflection"};

std::string drill_server() {
  return binary_path("GRYPHON_DRILL_SERVER");
}

std::shared_ptr<grpc::Channel> connect(const std::string& target, int id) {
  grpc::ChannelArguments args;
  args.SetInt("gryphon.test.channel", id);  // distinct arguments: a separate connection each
  return grpc::CreateCustomChannel(target, grpc::InsecureChannelCredentials(), args);
}

void deadline_in(grpc::ClientContext& context, int seconds) {
  context.set_deadline(std::chrono::system_clock::now() + std::chrono::seconds(seconds));
}

// The slot of the worker serving `channel`'s connection.
int slot_of(const std::shared_ptr<grpc::Channel>& channel) {
  auto drill = gryphon::test::Drill::NewStub(channel);
  grpc::ClientContext context;
  deadline_in(context, 5);
  gryphon::test::SleepRequest request;
  gryphon::test::SleepReply reply;
  const grpc::Status status = drill->Sleep(&context, request, &reply);
  INFO(status.error_message());
  REQUIRE(status.ok());
  return reply.slot();
}

// What protoc generated into this binary for the file declaring `message`.
FileDescriptorProto generated_file(const google::protobuf::Descriptor* message) {
  FileDescriptorProto file;
  message->file()->CopyTo(&file);
  return file;
}

// One request out, one response in, on a stream of either version.
template <class Response, class Stream, class Request>
Response exchange(Stream& stream, const Request& request) {
  REQUIRE(stream.Write(request));
  Response response;
  REQUIRE(stream.Read(&response));
  return response;
}

using Stream =
    grpc::ClientReaderWriter<v1alpha::ServerReflectionRequest, v1alpha::ServerReflectionResponse>;

v1alpha::ServerReflectionResponse ask(Stream& stream,
                                      const v1alpha::ServerReflectionRequest& request) {
  auto response = exchange<v1alpha::ServerReflectionResponse>(stream, request);
  // Every answer echoes the request it answers.
  CHECK(google::protobuf::util::MessageDifferencer::Equals(response.original_request(), request));
  return response;
}

// The files of a file_descriptor_response, parsed; the first is the one asked for.
std::vector<FileDescriptorProto> files_of(const v1alpha::ServerReflectionResponse& response) {
  INFO("error_response: " << response.error_response().ShortDebugString());
  REQUIRE(response.message_response_case() ==
          v1alpha::ServerReflectionResponse::kFileDescriptorResponse);
  std::vector<FileDescriptorProto> files;
  for (const auto& bytes : response.file_descriptor_response().file_descriptor_proto()) {
    FileDescriptorProto file;
    REQUIRE(file.ParseFromString(bytes));
    files.push_back(std::move(file));
  }
  REQUIRE(!files.empty());
  return files;
}

v1alpha::ServerReflectionRequest by_symbol(const std::string& symbol) {
  v1alpha::ServerReflectionRequest request;
  request.set_file_containing_symbol(symbol);
  return request;
}

void check_same(const FileDescriptorProto& got, const FileDescriptorProto& expected) {
  INFO("got:      " << got.ShortDebugString());
  INFO("expected: " << expected.ShortDebugString());
  CHECK(google::protobuf::util::MessageDifferencer::Equals(got, expected));
}

// Everything the issue asks of one worker, over one v1alpha stream.
void check_reflection(const std::shared_ptr<grpc::Channel>& channel) {
  auto stub = v1alpha::ServerReflection::NewStub(channel);
  grpc::ClientContext context;
  deadline_in(context, 10);
  std::unique_ptr<Stream> stream = stub->ServerReflectionInfo(&context);

  v1alpha::ServerReflectionRequest list;
  list.set_host("localhost");
  list.set_list_services("");
  const auto listed = ask(*stream, list);
  CHECK(listed.valid_host() == "localhost");
  REQUIRE(listed.message_response_case() ==
          v1alpha::ServerReflectionResponse::kListServicesResponse);
  std::set<std::string> names;
  for (const auto& service : listed.list_services_response().service())
    names.insert(service.name());
  CHECK(names == std::set<std::string>(kServices.begin(), kServices.end()));

  const FileDescriptorProto greeter = generated_file(helloworld::HelloRequest::descriptor());
  const auto by_service = files_of(ask(*stream, by_symbol("helloworld.Greeter")));
  CHECK(by_service[0].name() == greeter.name());
  REQUIRE(by_service[0].service_size() == 1);
  CHECK(by_service[0].service(0).name() == "Greeter");
  REQUIRE(by_service[0].service(0).method_size() >= 1);
  CHECK(by_service[0].service(0).method(0).name() == "SayHello");
  CHECK(by_service[0].service(0).method(0).input_type() == ".helloworld.HelloRequest");
  check_same(by_service[0], greeter);

  v1alpha::ServerReflectionRequest by_name;
  by_name.set_file_by_filename(greeter.name());
  check_same(files_of(ask(*stream, by_name))[0], greeter);

  // A method is a symbol too; so is a message of the Drill service's file.
  const FileDescriptorProto drill = generated_file(gryphon::test::SleepRequest::descriptor());
  check_same(files_of(ask(*stream, by_symbol("gryphon.test.Drill.Sleep")))[0], drill);
  check_same(files_of(ask(*stream, by_symbol("gryphon.test.SleepReply")))[0], drill);

  const auto unknown = ask(*stream, by_symbol("no.such.Service"));
  REQUIRE(unknown.message_response_case() == v1alpha::ServerReflectionResponse::kErrorResponse);
  CHECK(unknown.error_response().error_code() == grpc::StatusCode::NOT_FOUND);
  CHECK_THAT(unknown.error_response().error_message(), Catch::Contains("no.such.Service"));

  // The built-in services can be described too, exactly as protoc describes them.
  check_same(files_of(ask(*stream, by_symbol("grpc.health.v1.Health")))[0],
             generated_file(grpc::health::v1::HealthCheckRequest::descriptor()));
  check_same(files_of(ask(*stream, by_symbol("grpc.reflection.v1alpha.ServerReflection")))[0],
             generated_file(v1alpha::ServerReflectionRequest::descriptor()));
  check_same(files_of(ask(*stream, by_symbol("grpc.reflection.v1.ServerReflection")))[0],
             generated_file(grpc::reflection::v1::ServerReflectionRequest::descriptor()));

  // The stream stays usable after an error, and ends cleanly when the client is done.
  CHECK(ask(*stream, list).message_response_case() ==
        v1alpha::ServerReflectionResponse::kListServicesResponse);
  REQUIRE(stream->WritesDone());
  v1alpha::ServerReflectionResponse extra;
  CHECK_FALSE(stream->Read(&extra));
  const grpc::Status status = stream->Finish();
  INFO(status.error_message());
  CHECK(status.ok());
}

int count(const std::string& text, const std::string& needle) {
  int n = 0;
  for (auto at = text.find(needle); at != std::string::npos;
       at = text.find(needle, at + needle.size()))
    ++n;
  return n;
}

}  // namespace

TEST_CASE("every worker serves reflection: services, files by symbol and by name, NOT_FOUND",
          "[reflection]") {
  TempDir dir;
  const std::string access_log = dir.file("access.log");
  // max-connections 1: a worker holding a connection lets the other accept the next one.
  ServerProcess server(drill_server(),
                       {"--listen", "127.0.0.1:0", "--workers", "2", "--max-connections", "1",
                        "--metrics-address", "", "--access-log", access_log});
  server.wait_ready();
  std::vector<std::shared_ptr<grpc::Channel>>
      channels;  // kept open so connections stay where they are
  std::set<int> checked;
  int sleeps = 0;
  for (int attempt = 0; attempt < 20 && checked.size() < 2; ++attempt) {
    channels.push_back(connect(server.target(), attempt));
    const int slot = slot_of(channels.back());
    ++sleeps;
    if (!checked.insert(slot).second) continue;
    INFO("worker slot " << slot);
    check_reflection(channels.back());
    slot_of(channels.back());  // logged after anything the reflection stream would have logged
    ++sleeps;
  }
  CHECK(checked == std::set<int>{0, 1});

  // Reflection bypasses the interceptors: the access log has every Sleep and no reflection call.
  std::string log;
  CHECK(wait_until(
      [&] {
        log = read_file(access_log);
        return count(log, "grpc.method=Sleep") >= sleeps;
      },
      std::chrono::seconds(10)));
  INFO(log);
  CHECK(log.find("ServerReflection") == std::string::npos);
}

TEST_CASE(
    "the v1 path lists the same services, and a malformed request ends the stream INVALID_ARGUMENT",
    "[reflection]") {
  ServerProcess server(drill_server(),
                       {"--listen", "127.0.0.1:0", "--workers", "1", "--metrics-address", ""});
  server.wait_ready();
  auto channel = connect(server.target(), 0);
  {
    auto stub = grpc::reflection::v1::ServerReflection::NewStub(channel);
    grpc::ClientContext context;
    deadline_in(context, 10);
    auto stream = stub->ServerReflectionInfo(&context);
    grpc::reflection::v1::ServerReflectionRequest request;
    request.set_list_services("");
    const auto response =
        exchange<grpc::reflection::v1::ServerReflectionResponse>(*stream, request);
    REQUIRE(response.message_response_case() ==
            grpc::reflection::v1::ServerReflectionResponse::kListServicesResponse);
    std::vector<std::string> names;
    for (const auto& service : response.list_services_response().service())
      names.push_back(service.name());
    CHECK(names == kServices);  // registration order: the user's, health, then reflection
    REQUIRE(stream->WritesDone());
    CHECK(stream->Finish().ok());
  }
  {
    // Raw bytes on the v1alpha path: one good request, then one that is no protobuf message.
    const grpc::internal::RpcMethod method(
        "/grpc.reflection.v1alpha.ServerReflection/ServerReflectionInfo",
        grpc::internal::RpcMethod::BIDI_STREAMING);
    grpc::ClientContext context;
    deadline_in(context, 10);
    std::unique_ptr<grpc::ClientReaderWriter<grpc::ByteBuffer, grpc::ByteBuffer>> stream(
        grpc::internal::ClientReaderWriterFactory<grpc::ByteBuffer, grpc::ByteBuffer>::Create(
            channel.get(), method, &context));
    auto send = [&](const std::string& bytes) {
      grpc::Slice slice(bytes);
      return stream->Write(grpc::ByteBuffer(&slice, 1));
    };
    REQUIRE(send(std::string("\x3a\x00", 2)));  // list_services: ""
    grpc::ByteBuffer reply;
    REQUIRE(stream->Read(&reply));
    std::vector<grpc::Slice> slices;
    REQUIRE(reply.Dump(&slices).ok());
    std::string bytes;
    for (const auto& slice : slices)
      bytes.append(reinterpret_cast<const char*>(slice.begin()), slice.size());
    v1alpha::ServerReflectionResponse response;
    REQUIRE(response.ParseFromString(bytes));
    CHECK(response.list_services_response().service_size() == static_cast<int>(kServices.size()));

    send("\x0f");  // wire type 7: no such thing
    CHECK_FALSE(stream->Read(&reply));
    const grpc::Status status = stream->Finish();
    CHECK(status.error_code() == grpc::StatusCode::INVALID_ARGUMENT);
    CHECK_THAT(status.error_message(), Catch::Contains("ServerReflectionRequest"));
  }
  CHECK(health_status(server.target()) == "SERVING");  // and the worker serves on
}

TEST_CASE("--reflection off serves no reflection, and health still serves", "[reflection]") {
  ServerProcess server(drill_server(), {"--listen", "127.0.0.1:0", "--workers", "0",
                                        "--metrics-address", "", "--reflection", "off"});
  server.wait_ready();
  auto stub = v1alpha::ServerReflection::NewStub(connect(server.target(), 0));
  grpc::ClientContext context;
  deadline_in(context, 10);
  auto stream = stub->ServerReflectionInfo(&context);
  v1alpha::ServerReflectionRequest request;
  request.set_list_services("");
  stream->Write(request);
  v1alpha::ServerReflectionResponse response;
  CHECK_FALSE(stream->Read(&response));
  CHECK(stream->Finish().error_code() == grpc::StatusCode::UNIMPLEMENTED);
  CHECK(health_status(server.target()) == "SERVING");
}
