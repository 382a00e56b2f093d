#include "transport/readiness.h"

#include <sys/socket.h>

#include <grpcpp/create_channel_posix.h>
#include <grpcpp/grpcpp.h>
#include <grpcpp/impl/codegen/client_unary_call.h>

#include <cstring>

#include "dispatch/health_service.h"

namespace gryphon::internal {

bool make_readiness_pair(int fds[2], std::string* error) {
  if (::socketpair(AF_UNIX, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0, fds) == 0) return true;
  *error = std::string("socketpair for the readiness check failed: ") + std::strerror(errno);
  return false;
}

bool health_check_over(int client_fd, std::chrono::milliseconds timeout, std::string* error) {
  auto channel = grpc::CreateInsecureChannelFromFd("gryphon-readiness", client_fd);
  grpc::ClientContext context;
  context.set_deadline(std::chrono::system_clock::now() + timeout);
  context.set_wait_for_ready(true);
  const std::string request = HealthService::encode_request("");
  grpc::Slice slice(request.data(), request.size());
  const grpc::ByteBuffer request_buffer(&slice, 1);
  grpc::ByteBuffer response;
  const grpc::internal::RpcMethod method("/grpc.health.v1.Health/Check",
                                         grpc::internal::RpcMethod::NORMAL_RPC);
  const grpc::Status status =
      grpc::internal::BlockingUnaryCall(channel.get(), method, &context, request_buffer, &response);
  if (!status.ok()) {
    *error = "readiness health check failed: " + status.error_message();
    return false;
  }
  grpc::Slice flat;
  std::string bytes;
  if (response.DumpToSingleSlice(&flat).ok()) {
    bytes.assign(reinterpret_cast<const char*>(flat.begin()), flat.size());
  }
  if (HealthService::parse_response(bytes) != HealthService::Status::kServing) {
    *error = "readiness health check did not answer SERVING";
    return false;
  }
  return true;
}

}  // namespace gryphon::internal
