#include "gryphon/handler.h"

#include <string>

namespace gryphon {

const char* rpc_type_name(RpcType type) {
  switch (type) {
    case RpcType::kUnary: return "unary";
    case RpcType::kClientStreaming: return "client_stream";
    case RpcType::kServerStreaming: return "server_stream";
    case RpcType::kBidiStreaming: return "bidi_stream";
    case RpcType::kUnknown: return "unknown";
  }
  return "unknown";
}

namespace internal {

grpc::Status parse_error(std::string_view type_name) {
  return grpc::Status(grpc::StatusCode::INVALID_ARGUMENT,
                      "the request message could not be parsed as " + std::string(type_name));
}

grpc::Status serialize_error(std::string_view type_name) {
  return grpc::Status(grpc::StatusCode::INTERNAL, "the response message " + std::string(type_name) +
                                                      " could not be serialised");
}

}  // namespace internal
}  // namespace gryphon
