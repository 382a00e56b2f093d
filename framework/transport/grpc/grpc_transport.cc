#include "transport/grpc/grpc_transport.h"

#include <netinet/in.h>
#include <netinet/tcp.h>
#include <sys/socket.h>
#include <unistd.h>

#include <grpcpp/grpcpp.h>

#include <boost/asio/executor_work_guard.hpp>
#include <boost/asio/io_context.hpp>
#include <algorithm>
#include <cstring>
#include <thread>

#include "os/process.h"
#include "transport/readiness.h"
#include "transport/grpc/connection_watcher.h"
#include "transport/grpc/grpc_calls.h"

namespace gryphon::internal {
namespace {

using ExternalAcceptor = grpc::experimental::ExternalConnectionAcceptor;
using namespace grpc_transport;

constexpr int kRequestsPerMethod = 16;  // calls kept requested per method and completion queue
constexpr int kUnknownRequests = 2;

std::shared_ptr<grpc::ServerCredentials> server_credentials(const TlsMaterial& tls) {
  grpc_ssl_client_certificate_request_type request = GRPC_SSL_DONT_REQUEST_CLIENT_CERTIFICATE;
  if (tls.client_auth == ClientAuth::kOptional)
    request = GRPC_SSL_REQUEST_CLIENT_CERTIFICATE_AND_VERIFY;
  if (tls.client_auth == ClientAuth::kRequire)
    request = GRPC_SSL_REQUEST_AND_REQUIRE_CLIENT_CERTIFICATE_AND_VERIFY;
  grpc::SslServerCredentialsOptions options(request);
  options.pem_key_cert_pairs.push_back({tls.private_key, tls.cert_chain});
  options.pem_root_certs = tls.client_ca;
  return grpc::SslServerCredentials(options);
}

int clamp_int(std::uint64_t value) {
  return static_cast<int>(std::min<std::uint64_t>(value, INT32_MAX));
}

class GrpcTransport final : public Transport {
 public:
  GrpcTransport(const Config& config, const TlsMaterial& tls, Dispatcher& dispatcher,
                boost::asio::io_context& io)
      : config_(config), tls_(tls), dispatcher_(dispatcher), connections_(io) {
    std::vector<std::string> paths;
    std::vector<bool> unary;
    for (const auto& method : dispatcher_.methods()) {
      paths.push_back(method->def.path());
      unary.push_back(method->def.type == RpcType::kUnary);
    }
    service_ = std::make_unique<RawService>(paths, unary);
    shared_.reset(new CallShared{dispatcher_, *service_, unknown_service_, {}});
    shared_->first_message_timeout = config_.first_message_timeout;
    shared_->default_stream_deadline = config_.default_stream_deadline;
    shared_->stream_idle_timeout = config_.stream_idle_timeout;
    shared_->stream_write_timeout = config_.stream_write_timeout;
  }

  ~GrpcTransport() override { join(); }

  bool start(std::string* error) override {
    grpc::ServerBuilder builder;
    // Plaintext: unix listeners (a sidecar's socket) and the readiness check's socketpair. With
    // TLS, TCP connections go to a second acceptor holding the credentials the master loaded.
    acceptor_ = builder.experimental().AddExternalConnectionAcceptor(
        grpc::ServerBuilder::experimental_type::ExternalConnectionType::FROM_FD,
        grpc::InsecureServerCredentials());
    if (tls_.enabled()) {
      tls_acceptor_ = builder.experimental().AddExternalConnectionAcceptor(
          grpc::ServerBuilder::experimental_type::ExternalConnectionType::FROM_FD,
          server_credentials(tls_));
    }
    builder.AddChannelArgument(GRPC_ARG_MAX_CONNECTION_AGE_MS,
                               static_cast<int>(config_.max_connection_age.count()));
    if (config_.max_connection_age_grace.count() > 0) {
      builder.AddChannelArgument(GRPC_ARG_MAX_CONNECTION_AGE_GRACE_MS,
                                 static_cast<int>(config_.max_connection_age_grace.count()));
    }
    builder.SetMaxReceiveMessageSize(clamp_int(config_.max_receive_message_size));
    builder.SetMaxSendMessageSize(clamp_int(config_.max_send_message_size));
    builder.AddChannelArgument(GRPC_ARG_MAX_METADATA_SIZE, clamp_int(config_.max_metadata_size));
    builder.AddChannelArgument(GRPC_ARG_SERVER_HANDSHAKE_TIMEOUT_MS,
                               static_cast<int>(config_.handshake_timeout.count()));
    if (config_.idle_timeout.count() > 0) {
      builder.AddChannelArgument(GRPC_ARG_MAX_CONNECTION_IDLE_MS,
                                 static_cast<int>(config_.idle_timeout.count()));
    }
    builder.AddChannelArgument(GRPC_ARG_HTTP2_MIN_RECV_PING_INTERVAL_WITHOUT_DATA_MS,
                               static_cast<int>(config_.keepalive_min_interval.count()));
    builder.AddChannelArgument(GRPC_ARG_HTTP2_MAX_PING_STRIKES, 2);
    builder.AddChannelArgument(GRPC_ARG_MAX_CONCURRENT_STREAMS, config_.max_concurrent_streams);
    builder.RegisterService(service_.get());
    builder.RegisterAsyncGenericService(&unknown_service_);
    for (int i = 0; i < config_.cq_threads; ++i) {
      cqs_.push_back(builder.AddCompletionQueue());
      caches_.push_back(
          std::make_unique<CallCache>(static_cast<std::size_t>(config_.max_concurrent_rpcs)));
    }
    server_ = builder.BuildAndStart();
    if (!server_) {
      *error = "gRPC failed to build the server (see gRPC's log above)";
      return false;
    }
    // Async handlers' coroutines run on an event loop per completion queue, started only when a
    // service has them (gRPC C++ has no loop to resume them on).
    const auto& all = dispatcher_.methods();
    const bool async = std::any_of(all.begin(), all.end(),
                                   [](const auto& method) { return method->def.is_async(); });
    for (std::size_t q = 0; async && q < cqs_.size(); ++q) {
      loops_.push_back(std::make_unique<boost::asio::io_context>(1));
      guards_.emplace_back(loops_.back()->get_executor());
      loop_threads_.emplace_back([loop = loops_.back().get(), q] {
        name_this_thread("gryphon-async-" + std::to_string(q));
        loop->run();
      });
    }
    for (std::size_t q = 0; q < cqs_.size(); ++q) {
      const Queue queue{cqs_[q].get(), caches_[q].get(), async ? loops_[q].get() : nullptr};
      const auto& methods = dispatcher_.methods();
      for (std::size_t m = 0; m < methods.size(); ++m) {
        request_calls(*shared_, queue, *methods[m], static_cast<int>(m), kRequestsPerMethod);
      }
      request_unknown_calls(*shared_, queue, kUnknownRequests);
    }
    for (std::size_t at = 0; at < cqs_.size(); ++at) {
      threads_.emplace_back([queue = cqs_[at].get(), at] {
        name_this_thread("gryphon-cq-" + std::to_string(at));
        void* tag = nullptr;
        bool ok = false;
        while (queue->Next(&tag, &ok)) static_cast<Tag*>(tag)->proceed(ok);
      });
    }
    return true;
  }

  void serve_connection(int fd, bool tcp) override {
    if (tcp) {
      const int one = 1;
      ::setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof(one));
    }
    connections_.watch(fd);
    ExternalAcceptor::NewConnectionParameters params;
    params.fd = fd;
    (tcp && tls_acceptor_ ? tls_acceptor_ : acceptor_)->HandleNewConnection(&params);
  }

  bool check_ready(std::chrono::milliseconds timeout, std::string* error) override {
    // Plaintext, through the acceptor client connections use.
    return check_readiness(
        [this](int fd) {
          ExternalAcceptor::NewConnectionParameters params;
          params.fd = fd;
          acceptor_->HandleNewConnection(&params);
        },
        timeout, error);
  }

  std::size_t open_connections() const override { return connections_.open(); }

  void begin_drain() override {}  // max-connection-age sends each client a GOAWAY it handles

  void stop(std::chrono::steady_clock::time_point deadline) override {
    shared_->shutting_down.store(true);
    const auto remaining =
        std::max(deadline - std::chrono::steady_clock::now(),
                 std::chrono::steady_clock::duration(std::chrono::milliseconds(100)));
    server_->Shutdown(std::chrono::system_clock::now() + remaining);
    join();
  }

 private:
  void join() {
    if (shared_) shared_->shutting_down.store(true);
    // The async loops first: no coroutine may answer on a queue that is shutting down. A
    // coroutine still suspended here belongs to a call gRPC's shutdown cancelled.
    guards_.clear();
    for (auto& loop : loops_) loop->stop();
    for (auto& thread : loop_threads_) thread.join();
    loop_threads_.clear();
    for (auto& cq : cqs_) cq->Shutdown();
    for (auto& thread : threads_) thread.join();
    threads_.clear();
    cqs_.clear();
    caches_.clear();
  }

  const Config& config_;
  const TlsMaterial& tls_;
  Dispatcher& dispatcher_;
  ConnectionWatcher connections_;
  std::unique_ptr<RawService> service_;
  grpc::AsyncGenericService unknown_service_;
  std::unique_ptr<CallShared> shared_;
  std::unique_ptr<ExternalAcceptor> acceptor_;
  std::unique_ptr<ExternalAcceptor> tls_acceptor_;
  std::vector<std::unique_ptr<grpc::ServerCompletionQueue>> cqs_;
  std::vector<std::unique_ptr<CallCache>> caches_;
  std::vector<std::thread> threads_;
  std::vector<std::unique_ptr<boost::asio::io_context>> loops_;
  std::vector<boost::asio::executor_work_guard<boost::asio::io_context::executor_type>> guards_;
  std::vector<std::thread> loop_threads_;
  std::unique_ptr<grpc::Server> server_;
};

}  // namespace

std::unique_ptr<Transport> make_grpc_transport(const Config& config, const TlsMaterial& tls,
                                               Dispatcher& dispatcher,
                                               boost::asio::io_context& io) {
  return std::make_unique<GrpcTransport>(config, tls, dispatcher, io);
}

}  // namespace gryphon::internal
