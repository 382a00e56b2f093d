#include "dispatch/reflection_service.h"

#include <google/protobuf/descriptor.h>
#include <google/protobuf/descriptor.pb.h>
#include <google/protobuf/io/coded_stream.h>
#include <google/protobuf/io/zero_copy_stream_impl_lite.h>
#include <google/protobuf/text_format.h>
#include <google/protobuf/wire_format_lite.h>

#include <deque>
#include <memory>
#include <set>
#include <string_view>

namespace gryphon::internal {
namespace {

using google::protobuf::Descriptor;
using google::protobuf::DescriptorPool;
using google::protobuf::FieldDescriptor;
using google::protobuf::FileDescriptor;
using google::protobuf::internal::WireFormatLite;
using google::protobuf::io::CodedInputStream;
using google::protobuf::io::CodedOutputStream;

// The FileDescriptorProtos of the built-in services' files, as protoc makes them from
// /usr/share/grpc-proto (grpc/health/v1/health.proto,
// grpc/reflection/{v1alpha,v1}/reflection.proto): same names, packages, messages, services and file
// options; no comments. The two reflection files differ only in their package and options.
constexpr const char* kHealthFile = R"pb(
  name: "grpc/health/v1/health.proto"
  package: "grpc.health.v1"
  message_type {
    name: "HealthCheckRequest"
    field { name: "service" number: 1 label: LABEL_OPTIONAL type: TYPE_STRING }
  }
  message_type {
    name: "HealthCheckResponse"
    field {
      name: "status"
      number: 1
      label: LABEL_OPTIONAL
      type: TYPE_ENUM
      type_name: ".grpc.health.v1.HealthCheckResponse.ServingStatus"
    }
    enum_type {
      name: "ServingStatus"
      value { name: "UNKNOWN" number: 0 }
      value { name: "SERVING" number: 1 }
      value { name: "NOT_SERVING" number: 2 }
      value { name: "SERVICE_UNKNOWN" number: 3 }
    }
  }
  service {
    name: "Health"
    method {
      name: "Check"
      input_type: ".grpc.health.v1.HealthCheckRequest"
      output_type: ".grpc.health.v1.HealthCheckResponse"
    }
    method {
      name: "Watch"
      input_type: ".grpc.health.v1.HealthCheckRequest"
      output_type: ".grpc.health.v1.HealthCheckResponse"
      server_streaming: true
    }
  }
  options {
    java_package: "io.grpc.health.v1"
    java_outer_classname: "HealthProto"
    java_multiple_files: true
    go_package: "google.golang.org/grpc/health/grpc_health_v1"
    csharp_namespace: "Grpc.Health.V1"
  }
  syntax: "proto3"
)pb";

// $V is the version: v1alpha or v1.
constexpr const char* kReflectionFile = R"pb(
  name: "grpc/reflection/$V/reflection.proto"
  package: "grpc.reflection.$V"
  message_type {
    name: "ServerReflectionRequest"
    field { name: "host" number: 1 label: LABEL_OPTIONAL type: TYPE_STRING }
    field {
      name: "file_by_filename"
      number: 3
      label: LABEL_OPTIONAL
      type: TYPE_STRING
      oneof_index: 0
    }
    field {
      name: "file_containing_symbol"
      number: 4
      label: LABEL_OPTIONAL
      type: TYPE_STRING
      oneof_index: 0
    }
    field {
      name: "file_containing_extension"
      number: 5
      label: LABEL_OPTIONAL
      type: TYPE_MESSAGE
      type_name: ".grpc.reflection.$V.ExtensionRequest"
      oneof_index: 0
    }
    field {
      name: "all_extension_numbers_of_type"
      number: 6
      label: LABEL_OPTIONAL
      type: TYPE_STRING
      oneof_index: 0
    }
    field { name: "list_services" number: 7 label: LABEL_OPTIONAL type: TYPE_STRING oneof_index: 0 }
    oneof_decl { name: "message_request" }
  }
  message_type {
    name: "ExtensionRequest"
    field { name: "containing_type" number: 1 label: LABEL_OPTIONAL type: TYPE_STRING }
    field { name: "extension_number" number: 2 label: LABEL_OPTIONAL type: TYPE_INT32 }
  }
  message_type {
    name: "ServerReflectionResponse"
    field { name: "valid_host" number: 1 label: LABEL_OPTIONAL type: TYPE_STRING }
    field {
      name: "original_request"
      number: 2
      label: LABEL_OPTIONAL
      type: TYPE_MESSAGE
      type_name: ".grpc.reflection.$V.ServerReflectionRequest"
    }
    field {
      name: "file_descriptor_response"
      number: 4
      label: LABEL_OPTIONAL
      type: TYPE_MESSAGE
      type_name: ".grpc.reflection.$V.FileDescriptorResponse"
      oneof_index: 0
    }
    field {
      name: "all_extension_numbers_response"
      number: 5
      label: LABEL_OPTIONAL
      type: TYPE_MESSAGE
      type_name: ".grpc.reflection.$V.ExtensionNumberResponse"
      oneof_index: 0
    }
    field {
      name: "list_services_response"
      number: 6
      label: LABEL_OPTIONAL
      type: TYPE_MESSAGE
      type_name: ".grpc.reflection.$V.ListServiceResponse"
      oneof_index: 0
    }
    field {
      name: "error_response"
      number: 7
      label: LABEL_OPTIONAL
      type: TYPE_MESSAGE
      type_name: ".grpc.reflection.$V.ErrorResponse"
      oneof_index: 0
    }
    oneof_decl { name: "message_response" }
  }
  message_type {
    name: "FileDescriptorResponse"
    field { name: "file_descriptor_proto" number: 1 label: LABEL_REPEATED type: TYPE_BYTES }
  }
  message_type {
    name: "ExtensionNumberResponse"
    field { name: "base_type_name" number: 1 label: LABEL_OPTIONAL type: TYPE_STRING }
    field { name: "extension_number" number: 2 label: LABEL_REPEATED type: TYPE_INT32 }
  }
  message_type {
    name: "ListServiceResponse"
    field {
      name: "service"
      number: 1
      label: LABEL_REPEATED
      type: TYPE_MESSAGE
      type_name: ".grpc.reflection.$V.ServiceResponse"
    }
  }
  message_type {
    name: "ServiceResponse"
    field { name: "name" number: 1 label: LABEL_OPTIONAL type: TYPE_STRING }
  }
  message_type {
    name: "ErrorResponse"
    field { name: "error_code" number: 1 label: LABEL_OPTIONAL type: TYPE_INT32 }
    field { name: "error_message" number: 2 label: LABEL_OPTIONAL type: TYPE_STRING }
  }
  service {
    name: "ServerReflection"
    method {
      name: "ServerReflectionInfo"
      input_type: ".grpc.reflection.$V.ServerReflectionRequest"
      output_type: ".grpc.reflection.$V.ServerReflectionResponse"
      client_streaming: true
      server_streaming: true
    }
  }
  options {
    java_package: "io.grpc.reflection.$V"
    java_outer_classname: "ServerReflectionProto"
    java_multiple_files: true
    go_package: "google.golang.org/grpc/reflection/grpc_reflection_$V" $OPTIONS
  }
  syntax: "proto3"
)pb";

std::string replace_all(std::string text, std::string_view from, std::string_view to) {
  for (auto at = text.find(from); at != std::string::npos; at = text.find(from, at + to.size())) {
    text.replace(at, from.size(), to);
  }
  return text;
}

// Built once, on the first reflection request; never destroyed (streams may outlive statics).
const DescriptorPool& builtin_pool() {
  static const DescriptorPool* pool = [] {
    auto* built = new DescriptorPool;
    const std::string v1alpha =
        replace_all(replace_all(kReflectionFile, "$V", "v1alpha"), "$OPTIONS", "deprecated: true");
    const std::string v1 = replace_all(replace_all(kReflectionFile, "$V", "v1"), "$OPTIONS", "");
    for (const std::string& text : {std::string(kHealthFile), v1alpha, v1}) {
      google::protobuf::FileDescriptorProto proto;
      // Both log and leave the file out on a mistake in the text above (the unit test catches one).
      if (google::protobuf::TextFormat::ParseFromString(text, &proto)) built->BuildFile(proto);
    }
    return built;
  }();
  return *pool;
}

// The linked-in descriptors first, then the built-in services' files.
template <class T, class Find>
const T* find(Find&& lookup) {
  if (const T* found = lookup(*DescriptorPool::generated_pool())) return found;
  return lookup(builtin_pool());
}

// `file` and everything it imports, transitively, each once: requested file first.
std::vector<std::string> with_imports(const FileDescriptor* file) {
  std::vector<std::string> out;
  std::set<std::string> seen{file->name()};
  std::deque<const FileDescriptor*> queue{file};
  while (!queue.empty()) {
    const FileDescriptor* next = queue.front();
    queue.pop_front();
    google::protobuf::FileDescriptorProto proto;
    next->CopyTo(&proto);
    out.push_back(proto.SerializeAsString());
    for (int i = 0; i < next->dependency_count(); ++i) {
      const FileDescriptor* import = next->dependency(i);
      if (seen.insert(import->name()).second) queue.push_back(import);
    }
  }
  return out;
}

ReflectionResponse files_or_error(const FileDescriptor* file, std::string missing) {
  ReflectionResponse response;
  if (file == nullptr) {
    response.error_code = grpc::StatusCode::NOT_FOUND;
    response.error_message = std::move(missing);
    return response;
  }
  response.kind = ReflectionResponse::Kind::kFileDescriptors;
  response.files = with_imports(file);
  return response;
}

}  // namespace

ReflectionResponse ReflectionService::answer(const ReflectionRequest& request) const {
  using Kind = ReflectionRequest::Kind;
  ReflectionResponse response;
  const std::string& name = request.name;
  switch (request.kind) {
    case Kind::kFileByFilename:
      response = files_or_error(find<FileDescriptor>([&](const DescriptorPool& pool) {
                                  return pool.FindFileByName(name);
                                }),
                                "no file named '" + name + "' is linked into this server");
      break;
    case Kind::kFileContainingSymbol:
      response =
          files_or_error(find<FileDescriptor>([&](const DescriptorPool& pool) {
                           return pool.FindFileContainingSymbol(name);
                         }),
                         "no symbol named '" + name +
                             "' is linked into this server (give a fully-qualified name, e.g. "
                             "package.Service)");
      break;
    case Kind::kFileContainingExtension: {
      const Descriptor* type = find<Descriptor>(
          [&](const DescriptorPool& pool) { return pool.FindMessageTypeByName(name); });
      const FieldDescriptor* extension =
          type == nullptr
              ? nullptr
              : type->file()->pool()->FindExtensionByNumber(type, request.extension_number);
      response = files_or_error(
          extension == nullptr ? nullptr : extension->file(),
          type == nullptr ? "no message type named '" + name + "' is linked into this server"
                          : "no extension " + std::to_string(request.extension_number) + " of '" +
                                name + "' is linked into this server");
      break;
    }
    case Kind::kAllExtensionNumbersOfType: {
      const Descriptor* type = find<Descriptor>(
          [&](const DescriptorPool& pool) { return pool.FindMessageTypeByName(name); });
      if (type == nullptr) {
        response.error_code = grpc::StatusCode::NOT_FOUND;
        response.error_message = "no message type named '" + name + "' is linked into this server";
        break;
      }
      std::vector<const FieldDescriptor*> extensions;
      type->file()->pool()->FindAllExtensions(type, &extensions);
      response.kind = ReflectionResponse::Kind::kExtensionNumbers;
      response.base_type_name = type->full_name();
      for (const FieldDescriptor* extension : extensions)
        response.extension_numbers.push_back(extension->number());
      break;
    }
    case Kind::kListServices:
      response.kind = ReflectionResponse::Kind::kServices;
      response.services = services_;
      break;
    case Kind::kNone:
      // What gRPC's own reflection answers; also what a newer client's unknown request becomes.
      response.error_code = grpc::StatusCode::UNIMPLEMENTED;
      response.error_message =
          "the request sets none of file_by_filename, file_containing_symbol, "
          "file_containing_extension, "
          "all_extension_numbers_of_type or list_services";
      break;
  }
  response.valid_host = request.host;
  return response;
}

bool ReflectionService::respond(const std::string& request_bytes,
                                std::string* response_bytes) const {
  ReflectionRequest request;
  if (!parse_request(request_bytes, &request)) return false;
  ReflectionResponse response = answer(request);
  response.original_request = request_bytes;
  *response_bytes = encode_response(response);
  return true;
}

Task<grpc::Status> ReflectionService::serve(detail::AsyncStream& stream) const {
  std::string message;
  std::string response;
  for (bool more = co_await stream.read(message); more; more = co_await stream.read(message)) {
    if (!respond(message, &response)) {
      co_return grpc::Status(grpc::StatusCode::INVALID_ARGUMENT,
                             "malformed ServerReflectionRequest");
    }
    const bool wrote = co_await stream.write(response, {});
    if (!wrote) break;
  }
  co_return grpc::Status::OK;  // the client finished sending (or the call is gone)
}

void add_reflection_services(std::vector<Dispatcher::Service>& services) {
  std::vector<std::string> names;
  for (const auto& entry : services) names.push_back(entry.def.service);
  names.push_back(ReflectionService::kV1Alpha);
  names.push_back(ReflectionService::kV1);
  auto service = std::make_shared<const ReflectionService>(std::move(names));
  for (const char* name : {ReflectionService::kV1Alpha, ReflectionService::kV1}) {
    Dispatcher::Service entry;
    entry.def.service = name;
    MethodDef method{
        .service = name, .method = "ServerReflectionInfo", .type = RpcType::kBidiStreaming};
    method.async_stream = [service](Context&, detail::AsyncStream& stream) {
      return service->serve(stream);
    };
    entry.def.methods.push_back(std::move(method));
    entry.builtin = true;
    services.push_back(std::move(entry));
  }
}

}  // namespace gryphon::internal
