#include "files.h"

namespace gryphon::codegen {

Spelling generated_spelling() {
  return Spelling{"::grpc", "::gryphon", false};
}

Spelling skeleton_spelling(const FileModel& file) {
  return Spelling{file.grpc_ns, file.gryphon_ns, true};
}

std::vector<std::string> method_params(const MethodModel& method, bool async,
                                       const Spelling& spelling, ParamNames names) {
  const std::string& request =
      spelling.readable_types ? method.request.readable : method.request.qualified;
  const std::string& response =
      spelling.readable_types ? method.response.readable : method.response.qualified;
  const std::string& g = spelling.gryphon_ns;
  // An async method's streams are the awaitable ones (gryphon/async.h).
  const std::string writer = g + (async ? "::AsyncWriter<" : "::ServerWriter<");
  const std::string reader = g + (async ? "::AsyncReader<" : "::ServerReader<");
  const std::string both = g + (async ? "::AsyncReaderWriter<" : "::ServerReaderWriter<");
  std::vector<std::pair<std::string, std::string>> params = {{g + "::Context&", "context"}};
  switch (method.kind) {
    case RpcType::kUnary:
      params.emplace_back("const " + request + "&", "request");
      params.emplace_back(response + "&", "response");
      break;
    case RpcType::kServerStreaming:
      params.emplace_back("const " + request + "&", "request");
      params.emplace_back(writer + response + ">&", "writer");
      break;
    case RpcType::kClientStreaming:
      params.emplace_back(reader + request + ">&", "reader");
      params.emplace_back(response + "&", "response");
      break;
    case RpcType::kBidiStreaming:
      params.emplace_back(both + response + ", " + request + ">&", "stream");
      break;
  }
  std::vector<std::string> out;
  for (const auto& [type, name] : params) {
    switch (names) {
      case ParamNames::kNamed: out.push_back(type + " " + name); break;
      case ParamNames::kUnnamed: out.push_back(type); break;
      case ParamNames::kMaybeUnused: out.push_back("[[maybe_unused]] " + type + " " + name); break;
    }
  }
  return out;
}

bool is_coroutine(const MethodModel&, bool async) {
  return async;
}

std::string return_type(const MethodModel& method, bool async, const Spelling& spelling) {
  const std::string status = spelling.grpc_ns + "::Status";
  return is_coroutine(method, async) ? spelling.gryphon_ns + "::Task<" + status + ">" : status;
}

const char* return_keyword(const MethodModel& method, bool async) {
  return is_coroutine(method, async) ? "co_return" : "return";
}

std::string status_argument_indent(const MethodModel& method, bool async,
                                   const Spelling& spelling) {
  const std::string opening =
      std::string("  ") + return_keyword(method, async) + " " + spelling.grpc_ns + "::Status(";
  return std::string(opening.size(), ' ');
}

const char* rpc_type_enumerator(RpcType kind) {
  switch (kind) {
    case RpcType::kUnary: return "kUnary";
    case RpcType::kClientStreaming: return "kClientStreaming";
    case RpcType::kServerStreaming: return "kServerStreaming";
    case RpcType::kBidiStreaming: return "kBidiStreaming";
  }
  return "kUnary";
}

const char* bind_function(RpcType kind) {
  switch (kind) {
    case RpcType::kUnary: return "bind_unary";
    case RpcType::kClientStreaming: return "bind_client_streaming";
    case RpcType::kServerStreaming: return "bind_server_streaming";
    case RpcType::kBidiStreaming: return "bind_bidi_streaming";
  }
  return "bind_unary";
}

// A file without services gets no namespace block: there would be nothing in it.
std::string open_namespace(const FileModel& file) {
  if (file.cpp_namespace.empty() || file.services.empty()) return "";
  return "namespace " + file.cpp_namespace + " {\n\n";
}

std::string close_namespace(const FileModel& file) {
  if (file.cpp_namespace.empty() || file.services.empty()) return "";
  return "}  // namespace " + file.cpp_namespace + "\n";
}

}  // namespace gryphon::codegen
