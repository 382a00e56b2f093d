// ReflectionService: the hand-written ServerReflectionRequest decoder and ServerReflectionResponse
// encoder against hand-made bytes and against protobuf's own parser, and the answers it gives from
// the descriptors linked into this binary (the well-known types, reflection_extensions.proto) and
// from its built-in files (health, reflection v1alpha and v1).
#include "dispatch/reflection_service.h"

#include <google/protobuf/descriptor.pb.h>
#include <google/protobuf/descriptor_database.h>
#include <google/protobuf/dynamic_message.h>
#include <google/protobuf/text_format.h>
#include <google/protobuf/util/message_differencer.h>

#include <algorithm>
#include <catch2/catch.hpp>
#include <memory>
#include <string>
#include <vector>

namespace gryphon::internal {
namespace {

using namespace std::string_literals;
using Kind = ReflectionRequest::Kind;
using google::protobuf::FileDescriptorProto;

ReflectionRequest parsed(const std::string& bytes) {
  ReflectionRequest request;
  REQUIRE(ReflectionService::parse_request(bytes, &request));
  return request;
}

bool parses(const std::string& bytes) {
  ReflectionRequest request;
  return ReflectionService::parse_request(bytes, &request);
}

ReflectionRequest make(Kind kind, std::string name, std::int32_t number = 0) {
  ReflectionRequest request;
  request.kind = kind;
  request.name = std::move(name);
  request.extension_number = number;
  return request;
}

const ReflectionService& service() {
  static const ReflectionService instance({"helloworld.Greeter", "grpc.health.v1.Health",
                                           ReflectionService::kV1Alpha, ReflectionService::kV1});
  return instance;
}

std::vector<FileDescriptorProto> files_of(const ReflectionResponse& response) {
  REQUIRE(response.kind == ReflectionResponse::Kind::kFileDescriptors);
  std::vector<FileDescriptorProto> files;
  for (const auto& bytes : response.files) {
    FileDescriptorProto file;
    REQUIRE(file.ParseFromString(bytes));
    files.push_back(std::move(file));
  }
  return files;
}

std::vector<std::string> names_of(const std::vector<FileDescriptorProto>& files) {
  std::vector<std::string> names;
  for (const auto& file : files) names.push_back(file.name());
  return names;
}

// The built-in file of `version` (v1alpha or v1) as the service sends it, built into `pool`.
const google::protobuf::FileDescriptor* built_in_reflection_file(
    const std::string& version, google::protobuf::DescriptorPool& pool) {
  const auto response = service().answer(
      make(Kind::kFileByFilename, "grpc/reflection/" + version + "/reflection.proto"));
  const auto files = files_of(response);
  REQUIRE(files.size() == 1);
  const auto* file = pool.BuildFile(files[0]);
  REQUIRE(file != nullptr);
  return file;
}

TEST_CASE("a request's host and each kind of query decode from hand-made bytes") {
  auto request = parsed(
      "\x0a\x09"
      "localhost"
      "\x3a\x00"s);
  CHECK(request.host == "localhost");
  CHECK(request.kind == Kind::kListServices);
  CHECK(request.name.empty());

  request = parsed(
      "\x1a\x07"
      "a.proto");
  CHECK(request.kind == Kind::kFileByFilename);
  CHECK(request.name == "a.proto");
  CHECK(request.host.empty());

  request = parsed(
      "\x22\x12"
      "helloworld.Greeter");
  CHECK(request.kind == Kind::kFileContainingSymbol);
  CHECK(request.name == "helloworld.Greeter");

  // file_containing_extension{containing_type: "pkg.Msg", extension_number: 100}
  request = parsed(
      "\x2a\x0b\x0a\x07"
      "pkg.Msg"
      "\x10\x64");
  CHECK(request.kind == Kind::kFileContainingExtension);
  CHECK(request.name == "pkg.Msg");
  CHECK(request.extension_number == 100);

  request = parsed(
      "\x32\x07"
      "pkg.Msg");
  CHECK(request.kind == Kind::kAllExtensionNumbersOfType);
  CHECK(request.name == "pkg.Msg");

  CHECK(parsed("").kind == Kind::kNone);
  CHECK(parsed("\x0a\x01h").kind == Kind::kNone);
}

TEST_CASE("decoding follows protobuf: unknown fields are skipped, the last oneof member wins") {
  // Unknown fields of every wire type around a query: varint 2, field 99, fixed64, fixed32, a
  // group.
  auto request = parsed(
      "\x10\x01"
      "\x98\x06\x05"
      "\x41"
      "12345678"
      "\x22\x01"
      "b"
      "\x4d"
      "1234"
      "\x4b\x08\x01\x4c"s);
  CHECK(request.kind == Kind::kFileContainingSymbol);
  CHECK(request.name == "b");

  request = parsed(
      "\x1a\x01"
      "a"
      "\x22\x01"
      "b");
  CHECK(request.kind == Kind::kFileContainingSymbol);
  CHECK(request.name == "b");

  request = parsed(
      "\x2a\x04\x0a\x02"
      "pk"
      "\x1a\x01"
      "a");
  CHECK(request.kind == Kind::kFileByFilename);
  CHECK(request.name == "a");
  CHECK(request.extension_number == 0);

  // The same message member twice merges: the second only sets the number.
  request = parsed(
      "\x2a\x04\x0a\x02"
      "pk"
      "\x2a\x02\x10\x07");
  CHECK(request.kind == Kind::kFileContainingExtension);
  CHECK(request.name == "pk");
  CHECK(request.extension_number == 7);

  // A known field number with another wire type is an unknown field.
  CHECK(parsed("\x18\x05").kind == Kind::kNone);
  // A negative extension number (ten-byte varint) comes back as int32.
  CHECK(parsed("\x2a\x0b\x10\xff\xff\xff\xff\xff\xff\xff\xff\xff\x01").extension_number == -1);
  // Valid UTF-8 passes.
  CHECK(parsed("\x1a\x02\xc3\xa9").name == "\xc3\xa9");
}

TEST_CASE("bytes that are not a ServerReflectionRequest are rejected") {
  CHECK_FALSE(
      parses("\x1a\x05"
             "ab"));             // length past the end
  CHECK_FALSE(parses("\x1a"));   // no length
  CHECK_FALSE(parses("\x0f"s));  // wire type 7
  CHECK_FALSE(parses("\x00"s));  // tag 0
  CHECK_FALSE(parses("\x0c"s));  // an end-group with no group
  CHECK_FALSE(
      parses("\x2a\x05\x0a\x07"
             "pkg"));  // nested string past the message's end
  CHECK_FALSE(
      parses("\x2a\x02\x0a\x07"
             "pkg.Msg"));                           // nested string past the message's limit
  CHECK_FALSE(parses("\x1a\x01\xff"));              // not UTF-8
  CHECK_FALSE(parses("\x1a\x02\xc0\x80"));          // overlong
  CHECK_FALSE(parses("\x1a\x03\xed\xa0\x80"));      // a surrogate
  CHECK_FALSE(parses("\x1a\x04\xf4\x90\x80\x80"));  // above U+10FFFF
  CHECK_FALSE(parses("\x0a\x01\x80"));              // the host too
}

TEST_CASE("responses carry the documented field numbers") {
  ReflectionResponse response;
  response.valid_host = "h";
  response.original_request = "\x3a\x00"s;
  response.error_code = 5;
  response.error_message = "no";
  // valid_host = 1, original_request = 2, error_response = 7 {error_code = 1, error_message = 2}
  CHECK(ReflectionService::encode_response(response) ==
        "\x0a\x01h"
        "\x12\x02\x3a\x00"
        "\x3a\x06\x08\x05\x12\x02"
        "no"s);

  response = {};
  response.kind = ReflectionResponse::Kind::kServices;
  response.services = {"a", "bc"};
  // list_services_response = 6 {service = 1 {name = 1}}; an empty original_request is still sent
  CHECK(ReflectionService::encode_response(response) ==
        "\x12\x00\x32\x0b\x0a\x03\x0a\x01"
        "a"
        "\x0a\x04\x0a\x02"
        "bc"s);
  response.services.clear();
  CHECK(ReflectionService::encode_response(response) == "\x12\x00\x32\x00"s);

  response = {};
  response.kind = ReflectionResponse::Kind::kFileDescriptors;
  response.files = {"x", "yz"};
  // file_descriptor_response = 4 {repeated bytes file_descriptor_proto = 1}
  CHECK(ReflectionService::encode_response(response) == "\x12\x00\x22\x07\x0a\x01x\x0a\x02yz"s);

  response = {};
  response.kind = ReflectionResponse::Kind::kExtensionNumbers;
  response.base_type_name = "M";
  response.extension_numbers = {100, 1, 300};
  // all_extension_numbers_response = 5 {base_type_name = 1, extension_number = 2, packed}
  CHECK(ReflectionService::encode_response(response) ==
        "\x12\x00\x2a\x09\x0a\x01M\x12\x04\x64\x01\xac\x02"s);
}

TEST_CASE("the codec agrees with protobuf's parser on the reflection messages of both versions") {
  const std::string version = GENERATE("v1alpha", "v1");
  google::protobuf::DescriptorPool pool;
  const auto* file = built_in_reflection_file(version, pool);
  google::protobuf::DynamicMessageFactory factory(&pool);
  auto message_of = [&](const std::string& type, const std::string& text) {
    const auto* descriptor = file->FindMessageTypeByName(type);
    REQUIRE(descriptor != nullptr);
    std::unique_ptr<google::protobuf::Message> message(factory.GetPrototype(descriptor)->New());
    REQUIRE(google::protobuf::TextFormat::ParseFromString(text, message.get()));
    return message;
  };

  auto request = parsed(
      message_of(
          "ServerReflectionRequest",
          R"(host: "h" file_containing_extension { containing_type: "a.B" extension_number: 42 })")
          ->SerializeAsString());
  CHECK(request.host == "h");
  CHECK(request.kind == Kind::kFileContainingExtension);
  CHECK(request.name == "a.B");
  CHECK(request.extension_number == 42);
  request = parsed(message_of("ServerReflectionRequest", R"(all_extension_numbers_of_type: "a.B")")
                       ->SerializeAsString());
  CHECK(request.kind == Kind::kAllExtensionNumbersOfType);

  ReflectionResponse response;
  response.valid_host = "h";
  response.original_request =
      message_of("ServerReflectionRequest", R"(list_services: "*")")->SerializeAsString();
  response.kind = ReflectionResponse::Kind::kServices;
  response.services = {"x.Y", "z.W"};
  auto expected = message_of("ServerReflectionResponse", R"(
      valid_host: "h" original_request { list_services: "*" }
      list_services_response { service { name: "x.Y" } service { name: "z.W" } })");
  auto decoded = message_of("ServerReflectionResponse", "");
  REQUIRE(decoded->ParseFromString(ReflectionService::encode_response(response)));
  CHECK(decoded->ShortDebugString() == expected->ShortDebugString());
  CHECK(google::protobuf::util::MessageDifferencer::Equals(*decoded, *expected));

  response.kind = ReflectionResponse::Kind::kExtensionNumbers;
  response.base_type_name = "a.B";
  response.extension_numbers = {100, 150, 70000};
  expected = message_of("ServerReflectionResponse", R"(
      valid_host: "h" original_request { list_services: "*" }
      all_extension_numbers_response { base_type_name: "a.B" extension_number: [100, 150, 70000] })");
  REQUIRE(decoded->ParseFromString(ReflectionService::encode_response(response)));
  CHECK(decoded->ShortDebugString() == expected->ShortDebugString());

  response.kind = ReflectionResponse::Kind::kError;
  response.error_code = 5;
  response.error_message = "not here";
  expected = message_of("ServerReflectionResponse", R"(
      valid_host: "h" original_request { list_services: "*" }
      error_response { error_code: 5 error_message: "not here" })");
  REQUIRE(decoded->ParseFromString(ReflectionService::encode_response(response)));
  CHECK(decoded->ShortDebugString() == expected->ShortDebugString());
}

TEST_CASE("a file comes with everything it imports, each file once, the asked-for file first") {
  const auto files =
      files_of(service().answer(make(Kind::kFileByFilename, "google/protobuf/api.proto")));
  auto names = names_of(files);
  REQUIRE(!names.empty());
  CHECK(names[0] == "google/protobuf/api.proto");
  CHECK(files[0].package() == "google.protobuf");
  CHECK(files[0].message_type(0).name() == "Api");
  std::sort(names.begin(), names.end());
  CHECK(names == std::vector<std::string>{"google/protobuf/any.proto", "google/protobuf/api.proto",
                                          "google/protobuf/source_context.proto",
                                          "google/protobuf/type.proto"});
  // Every import of every file sent is among them: a client can build the whole set, as
  // reflection clients do, from a database of the files received.
  google::protobuf::SimpleDescriptorDatabase database;
  for (const auto& file : files) REQUIRE(database.Add(file));
  google::protobuf::DescriptorPool pool(&database);
  const auto* api = pool.FindFileByName("google/protobuf/api.proto");
  REQUIRE(api != nullptr);
  CHECK(pool.FindMessageTypeByName("google.protobuf.Method") != nullptr);
}

TEST_CASE("file_containing_symbol finds services, messages, fields, methods and enum values") {
  for (const auto& [symbol, file] : std::vector<std::pair<std::string, std::string>>{
           {"google.protobuf.Any", "google/protobuf/any.proto"},
           {"google.protobuf.Type.fields", "google/protobuf/type.proto"},
           {"google.protobuf.Field.TYPE_STRING", "google/protobuf/type.proto"},
           {"grpc.health.v1.Health", "grpc/health/v1/health.proto"},
           {"grpc.health.v1.Health.Watch", "grpc/health/v1/health.proto"},
           {"grpc.reflection.v1alpha.ServerReflection", "grpc/reflection/v1alpha/reflection.proto"},
           {"grpc.reflection.v1.ServerReflectionRequest", "grpc/reflection/v1/reflection.proto"},
       }) {
    INFO("symbol " << symbol);
    const auto files = files_of(service().answer(make(Kind::kFileContainingSymbol, symbol)));
    CHECK(files.at(0).name() == file);
  }
}

TEST_CASE("the built-in services' files describe them: health, and reflection in both versions") {
  const auto health =
      files_of(service().answer(make(Kind::kFileByFilename, "grpc/health/v1/health.proto")));
  REQUIRE(health.size() == 1);
  REQUIRE(health[0].service_size() == 1);
  CHECK(health[0].package() == "grpc.health.v1");
  CHECK(health[0].syntax() == "proto3");
  CHECK(health[0].service(0).name() == "Health");
  REQUIRE(health[0].service(0).method_size() == 2);
  CHECK(health[0].service(0).method(1).name() == "Watch");
  CHECK(health[0].service(0).method(1).server_streaming());
  CHECK_FALSE(health[0].service(0).method(1).client_streaming());

  for (const std::string version : {"v1alpha", "v1"}) {
    INFO("version " << version);
    google::protobuf::DescriptorPool pool;
    const auto* file = built_in_reflection_file(version, pool);
    CHECK(file->package() == "grpc.reflection." + version);
    CHECK(file->options().deprecated() == (version == "v1alpha"));
    const auto* method = pool.FindMethodByName("grpc.reflection." + version +
                                               ".ServerReflection.ServerReflectionInfo");
    REQUIRE(method != nullptr);
    CHECK(method->client_streaming());
    CHECK(method->server_streaming());
    CHECK(method->input_type()->name() == "ServerReflectionRequest");
    CHECK(method->output_type()->name() == "ServerReflectionResponse");
    const auto* request = method->input_type();
    CHECK(request->FindFieldByName("file_containing_extension")->number() == 5);
    CHECK(request->FindFieldByName("list_services")->containing_oneof() == request->oneof_decl(0));
    CHECK(pool.FindFieldByName("grpc.reflection." + version + ".ErrorResponse.error_message")
              ->number() == 2);
  }
}

TEST_CASE("extensions: the file declaring one, and every number a type has") {
  auto response =
      service().answer(make(Kind::kAllExtensionNumbersOfType, "gryphon.unittest.Extendable"));
  REQUIRE(response.kind == ReflectionResponse::Kind::kExtensionNumbers);
  CHECK(response.base_type_name == "gryphon.unittest.Extendable");
  std::sort(response.extension_numbers.begin(), response.extension_numbers.end());
  CHECK(response.extension_numbers == std::vector<std::int32_t>{100, 150});

  const auto files = files_of(
      service().answer(make(Kind::kFileContainingExtension, "gryphon.unittest.Extendable", 150)));
  CHECK(names_of(files) == std::vector<std::string>{"reflection_extensions.proto",
                                                    "google/protobuf/descriptor.proto"});
  CHECK(files_of(service().answer(
                     make(Kind::kFileContainingExtension, "google.protobuf.FieldOptions", 51234)))
            .at(0)
            .name() == "reflection_extensions.proto");

  response =
      service().answer(make(Kind::kFileContainingExtension, "gryphon.unittest.Extendable", 101));
  CHECK(response.kind == ReflectionResponse::Kind::kError);
  CHECK(response.error_code == grpc::StatusCode::NOT_FOUND);
  CHECK_THAT(response.error_message,
             Catch::Contains("101") && Catch::Contains("gryphon.unittest.Extendable"));
}

TEST_CASE("what is not linked in is NOT_FOUND, with the name in the message") {
  for (const auto& request :
       {make(Kind::kFileByFilename, "no/such.proto"),
        make(Kind::kFileContainingSymbol, "no.such.Service"),
        make(Kind::kFileContainingSymbol, "google.protobuf.Any.no_such_field"),
        make(Kind::kFileContainingExtension, "no.such.Type", 100),
        make(Kind::kAllExtensionNumbersOfType, "no.such.Type")}) {
    INFO("name " << request.name);
    const auto response = service().answer(request);
    CHECK(response.kind == ReflectionResponse::Kind::kError);
    CHECK(response.error_code == grpc::StatusCode::NOT_FOUND);
    CHECK_THAT(response.error_message, Catch::Contains("'" + request.name + "'"));
    CHECK(response.files.empty());
  }
}

TEST_CASE("list_services names the services given, and the host is echoed") {
  auto request = make(Kind::kListServices, "");
  request.host = "example.test";
  const auto response = service().answer(request);
  CHECK(response.kind == ReflectionResponse::Kind::kServices);
  CHECK(response.valid_host == "example.test");
  CHECK(response.services == std::vector<std::string>{"helloworld.Greeter", "grpc.health.v1.Health",
                                                      "grpc.reflection.v1alpha.ServerReflection",
                                                      "grpc.reflection.v1.ServerReflection"});
}

TEST_CASE(
    "a request asking nothing known is UNIMPLEMENTED, and one that does not parse gets no "
    "response") {
  const auto response = service().answer(make(Kind::kNone, ""));
  CHECK(response.kind == ReflectionResponse::Kind::kError);
  CHECK(response.error_code == grpc::StatusCode::UNIMPLEMENTED);

  std::string out;
  REQUIRE(
      service().respond("\x0a\x01h"
                        "\x3a\x00"s,
                        &out));
  // valid_host, the request echoed, and the four services
  CHECK(out.rfind("\x0a\x01h"
                  "\x12\x05\x0a\x01h\x3a\x00"
                  "\x32"s,
                  0) == 0);
  CHECK_FALSE(
      service().respond("\x1a\x05"
                        "ab",
                        &out));
}

TEST_CASE(
    "add_reflection_services appends both versions as built-in bidi streams after the others") {
  std::vector<Dispatcher::Service> services(1);
  services[0].def.service = "helloworld.Greeter";
  add_reflection_services(services);
  REQUIRE(services.size() == 3);
  for (std::size_t i = 1; i < 3; ++i) {
    CHECK(services[i].builtin);
    REQUIRE(services[i].def.methods.size() == 1);
    const MethodDef& method = services[i].def.methods[0];
    CHECK(method.type == RpcType::kBidiStreaming);
    CHECK(static_cast<bool>(method.async_stream));
    CHECK_FALSE(static_cast<bool>(method.unary));
  }
  CHECK(services[1].def.methods[0].path() ==
        "/grpc.reflection.v1alpha.ServerReflection/ServerReflectionInfo");
  CHECK(services[2].def.methods[0].path() ==
        "/grpc.reflection.v1.ServerReflection/ServerReflectionInfo");
}

}  // namespace
}  // namespace gryphon::internal
