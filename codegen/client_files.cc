// The <Service>Client class in <stem>.gryphon.h: a handler's typed calls to the service
// (gryphon/client.h), each carrying the serving call's deadline, cancellation, request id and
// trace context.
#include <cctype>
#include <string>
#include <vector>

#include "files.h"
#include "text.h"

namespace gryphon::codegen {
namespace {

constexpr const char* kClient = R"(// Calls to $full_name$ from a handler (gryphon/client.h).
// Make it in the handler's constructor, which runs in the worker:
//   $client$ $member${gryphon::connect("host:port")};
// Each call carries the serving call's deadline (the sooner of it and CallOptions::timeout),
// cancellation, x-request-id and W3C trace context. Unary methods only: streaming methods are not
// generated yet.
class $client$ {
 public:
  explicit $client$(std::shared_ptr<::grpc::Channel> channel) : channel_(std::move(channel)) {}
$methods$
 private:
  std::shared_ptr<::grpc::Channel> channel_;
};

)";

// One unary method's two calls: awaited, and blocking.
std::string unary_methods(const ServiceModel& service, const MethodModel& method) {
  const std::string path = "\"/" + service.full_name + "/" + method.proto_name + "\"";
  const std::vector<std::string> params = {
      "::gryphon::Context& context", "const " + method.request.qualified + "& request",
      method.response.qualified + "& response", "::gryphon::CallOptions options = {}"};
  const std::vector<std::string> args = {"channel_", path,       "context",
                                         "request",  "response", "std::move(options)"};
  std::string out = "\n  // " + method.proto_name + ", awaited in an async handler.\n";
  out += wrap_call("  ", "::gryphon::Task<::grpc::Status> " + method.cpp_name, params, " {");
  out += wrap_call("    ", "return ::gryphon::unary_call", args, ";");
  out += "  }\n";
  out += "  // " + method.proto_name + " from a synchronous handler: waits on its pool thread.\n";
  out += wrap_call("  ", "::grpc::Status " + method.cpp_name + "Blocking", params, " {");
  out += wrap_call("    ", "return ::gryphon::unary_call_blocking", args, ";");
  out += "  }\n";
  return out;
}

std::string member_name(const std::string& service) {
  std::string name;
  for (char c : service) name += static_cast<char>(std::tolower(static_cast<unsigned char>(c)));
  return name + "_";
}

}  // namespace

std::string client_class(const ServiceModel& service) {
  std::string methods;
  for (const MethodModel& method : service.methods) {
    if (method.kind != RpcType::kUnary) continue;
    methods += unary_methods(service, method);
  }
  return fill(kClient, {{"full_name", service.full_name},
                        {"client", service.client_class},
                        {"member", member_name(service.proto_name)},
                        {"methods", methods}});
}

}  // namespace gryphon::codegen
