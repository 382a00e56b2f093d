// gryphon/client.h: channels, the worker's client completion queue, and what a downstream call
// carries from the call it serves.
#include "gryphon/client.h"

#include <grpcpp/create_channel.h>
#include <grpcpp/security/credentials.h>

#include <fstream>
#include <sstream>
#include <stdexcept>
#include <thread>

#include "dispatch/trace_context.h"

namespace gryphon {
namespace {

// One completion queue and thread per process, for every downstream call's completion; started
// on the first call (in a worker: the master never calls), stopped as the process exits.
class ClientQueue {
 public:
  ClientQueue()
      : thread_([this] {
          pthread_setname_np(pthread_self(), "gryphon-client");
          void* tag = nullptr;
          bool ok = false;
          while (queue_.Next(&tag, &ok)) static_cast<detail::ClientTag*>(tag)->done(ok);
        }) {}
  ~ClientQueue() {
    queue_.Shutdown();
    thread_.join();
  }
  grpc::CompletionQueue* get() { return &queue_; }

 private:
  grpc::CompletionQueue queue_;
  std::thread thread_;
};

std::string read_whole(const std::string& path) {
  std::ifstream in(path, std::ios::binary);
  if (!in) {
    throw std::runtime_error("gryphon::connect: cannot read the CA file " + path +
                             ": give ChannelOptions::ca_file a readable PEM file");
  }
  std::ostringstream text;
  text << in.rdbuf();
  return text.str();
}

}  // namespace

std::shared_ptr<grpc::Channel> connect(const std::string& target, const ChannelOptions& options) {
  grpc::ChannelArguments arguments;
  // Each downstream call's status says what failed; a worker must not retry on its own behind
  // the caller's deadline.
  arguments.SetInt(GRPC_ARG_ENABLE_RETRIES, 0);
  std::shared_ptr<grpc::ChannelCredentials> credentials = grpc::InsecureChannelCredentials();
  if (options.tls) {
    grpc::SslCredentialsOptions ssl;
    if (!options.ca_file.empty()) ssl.pem_root_certs = read_whole(options.ca_file);
    credentials = grpc::SslCredentials(ssl);
    if (!options.server_name.empty()) arguments.SetSslTargetNameOverride(options.server_name);
  }
  return grpc::CreateCustomChannel(target, credentials, arguments);
}

namespace detail {

grpc::CompletionQueue* client_queue() {
  static ClientQueue queue;
  return queue.get();
}

std::optional<grpc::Status> carry(Context& from, grpc::ClientContext& to,
                                  const CallOptions& options) {
  if (from.cancelled_by_client())
    return grpc::Status(grpc::StatusCode::CANCELLED, "the call this one serves was cancelled");
  auto deadline = from.deadline();
  if (options.timeout.count() > 0)
    deadline = std::min(deadline, std::chrono::system_clock::now() + options.timeout);
  if (deadline != std::chrono::system_clock::time_point::max()) {
    if (deadline <= std::chrono::system_clock::now()) {
      return grpc::Status(grpc::StatusCode::DEADLINE_EXCEEDED,
                          "deadline exceeded before the downstream call was sent");
    }
    to.set_deadline(deadline);
  }
  if (!from.request_id().empty()) to.AddMetadata("x-request-id", from.request_id());
  internal::TraceParent parent{from.trace_id_for_downstream(), internal::new_span_id(),
                               from.trace_flags()};
  to.AddMetadata("traceparent", internal::format_traceparent(parent));
  if (auto state = from.find_metadata("tracestate"))
    to.AddMetadata("tracestate", std::string(*state));
  for (const auto& [key, value] : options.metadata) to.AddMetadata(key, value);
  return std::nullopt;
}

}  // namespace detail
}  // namespace gryphon
