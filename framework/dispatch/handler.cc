// What gryphon/handler.h and gryphon/detail/binding.h declare out of line: rpc_type_name and the
// statuses the binders answer when a message does not parse or serialise.
#include "gryphon/handler.h"

#include "gryphon/detail/binding.h"

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

namespace detail {

grpc::Status parse_error(std::string_view type_name) {
  return grpc::Status(grpc::StatusCode::INVALID_ARGUMENT,
                      "the request message could not be parsed as " + std::string(type_name));
}

grpc::Status serialize_error(std::string_view type_name) {
  return grpc::Status(grpc::StatusCode::INTERNAL, "the response message " + std::string(type_name) +
                                                      " could not be serialised");
}

}  // namespace detail
}  // namespace gryphon
