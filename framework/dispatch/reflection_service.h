// ReflectionService: gRPC server reflection, grpc.reflection.v1alpha.ServerReflection and
// grpc.reflection.v1.ServerReflection (method ServerReflectionInfo), served by every worker.
//
// Reflection lets tools such as grpcurl and grpc_cli list a server's services and fetch the
// descriptors of their .proto files, so they can call methods without having the files. This one
// is a bidi-streaming method on gryphon's dispatch, so both transports serve it alike, with its
// messages encoded by hand; the two versions' messages are the same on the wire, so one handler
// serves both paths. Like every built-in service it bypasses the interceptor chain. Why not gRPC's
// own (libgrpc++_reflection): it is a gRPC C++ sync service (on the grpc transport its threads
// poll the worker's connections beside the completion-queue thread; native cannot run it at
// all), and its generated reflection.pb.cc would clash with a user's copy of the same file (a
// duplicate descriptor registration aborts at start).
//
// Answers come from DescriptorPool::generated_pool(), which holds the descriptors of every .pb.cc
// linked into the server: a file is sent with its transitive imports. The files of the built-in
// services (health and both reflection versions), whose generated code gryphon does not link,
// come from a private pool built from descriptors written out in reflection.cc, unless the server
// links their generated code, which then wins.
//
// Threading: a stream is an async stream, a coroutine on its call's loop that holds no thread
// while it waits for the client's next request; each answer is computed there (a descriptor
// lookup and its encoding). Descriptor pools are thread-safe and the service holds nothing else.
#pragma once

#include "gryphon/async.h"  // first: it includes <utility> before Asio's awaitable header

#include <cstdint>
#include <string>
#include <vector>

#include "dispatch/dispatcher.h"
#include "gryphon/handler.h"

namespace gryphon::internal {

// A decoded ServerReflectionRequest{host = 1; oneof message_request {file_by_filename = 3;
// file_containing_symbol = 4; ExtensionRequest file_containing_extension = 5;
// all_extension_numbers_of_type = 6; list_services = 7}}, with
// ExtensionRequest{containing_type = 1; extension_number = 2}.
struct ReflectionRequest {
  enum class Kind {
    kNone,  // no member of the oneof set, or one this version does not know
    kFileByFilename,
    kFileContainingSymbol,
    kFileContainingExtension,
    kAllExtensionNumbersOfType,
    kListServices,
  };
  std::string host;
  Kind kind = Kind::kNone;
  std::string name;  // the file, symbol or type name; list_services' (ignored) text
  std::int32_t extension_number = 0;  // file_containing_extension only (name is containing_type)
};

// A ServerReflectionResponse{valid_host = 1; original_request = 2; oneof message_response {
// FileDescriptorResponse{repeated bytes file_descriptor_proto = 1} file_descriptor_response = 4;
// ExtensionNumberResponse{base_type_name = 1; repeated int32 extension_number = 2}
// all_extension_numbers_response = 5; ListServiceResponse{repeated ServiceResponse{name = 1}
// service = 1} list_services_response = 6; ErrorResponse{error_code = 1; error_message = 2}
// error_response = 7}}.
struct ReflectionResponse {
  enum class Kind { kFileDescriptors, kExtensionNumbers, kServices, kError };
  std::string valid_host;
  std::string original_request;  // the request's wire bytes, echoed
  Kind kind = Kind::kError;
  std::vector<std::string> files;  // serialized FileDescriptorProtos
  std::string base_type_name;
  std::vector<std::int32_t> extension_numbers;
  std::vector<std::string> services;
  int error_code = 0;  // a grpc::StatusCode
  std::string error_message;
};

class ReflectionService {
 public:
  static constexpr const char* kV1Alpha = "grpc.reflection.v1alpha.ServerReflection";
  static constexpr const char* kV1 = "grpc.reflection.v1.ServerReflection";

  // `services`: what list_services answers, in this order.
  explicit ReflectionService(std::vector<std::string> services) : services_(std::move(services)) {}

  // The answer to one request (all but original_request, which respond() fills in).
  ReflectionResponse answer(const ReflectionRequest& request) const;
  // One request's wire bytes in, its response's out; false for a malformed request.
  bool respond(const std::string& request, std::string* response) const;
  // Reads requests and writes one response each until the client finishes sending; a malformed
  // request ends the stream with INVALID_ARGUMENT.
  Task<grpc::Status> serve(detail::AsyncStream& stream) const;

  // Wire helpers, public for tests. parse_request() is false for bytes that are not a
  // ServerReflectionRequest (truncated, bad wire type, a string that is not UTF-8).
  static bool parse_request(const std::string& bytes, ReflectionRequest* request);
  static std::string encode_response(const ReflectionResponse& response);

 private:
  std::vector<std::string> services_;
};

// Appends both reflection services to `services` as built-ins (no interceptors). list_services
// then names every service in `services`, the two reflection services included.
void add_reflection_services(std::vector<Dispatcher::Service>& services);

}  // namespace gryphon::internal
