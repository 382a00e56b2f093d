#include "connections.h"

#include <grpc/grpc.h>
#include <grpcpp/create_channel.h>
#include <grpcpp/create_channel_posix.h>
#include <grpcpp/security/credentials.h>
#include <grpcpp/support/channel_arguments.h>
#include <netdb.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <sys/socket.h>
#include <sys/time.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <chrono>
#include <cstring>
#include <sstream>

namespace gryphon::bench {
namespace {

grpc::ChannelArguments channel_arguments(int index) {
  grpc::ChannelArguments args;
  args.SetInt("gryphon.bench.connection", index);
  // A benchmark must see every failure rather than a retried success, and the retry layer
  // costs the generator CPU on every call.
  args.SetInt(GRPC_ARG_ENABLE_RETRIES, 0);
  args.SetMaxReceiveMessageSize(-1);
  return args;
}

// Splits "host:port" or "[v6-address]:port".
bool split_host_port(const std::string& target, std::string* host, std::string* port) {
  std::size_t colon = target.rfind(':');
  if (colon == std::string::npos || colon == 0 || colon + 1 == target.size()) {
    return false;
  }
  *host = target.substr(0, colon);
  *port = target.substr(colon + 1);
  if (host->front() == '[' && host->back() == ']') {
    *host = host->substr(1, host->size() - 2);
  }
  return true;
}

// Connects a TCP socket to target within `timeout`; -1 with `error` set on failure.
int connect_tcp(const std::string& target, double timeout_seconds, std::string* error) {
  std::string host;
  std::string port;
  if (!split_host_port(target, &host, &port)) {
    *error = "--target: '" + target +
             "' is not host:port (use --connect resolver for other gRPC target URIs)";
    return -1;
  }
  addrinfo hints{};
  hints.ai_socktype = SOCK_STREAM;
  addrinfo* found = nullptr;
  if (int rc = getaddrinfo(host.c_str(), port.c_str(), &hints, &found); rc != 0) {
    *error = "cannot resolve " + target + ": " + gai_strerror(rc);
    return -1;
  }
  auto micros = static_cast<long>(timeout_seconds * 1e6);
  timeval timeout{micros / 1'000'000, micros % 1'000'000};
  int fd = -1;
  for (addrinfo* address = found; address != nullptr; address = address->ai_next) {
    fd = socket(address->ai_family, SOCK_STREAM | SOCK_CLOEXEC, 0);
    if (fd < 0) {
      continue;
    }
    // On Linux a send timeout also bounds connect().
    setsockopt(fd, SOL_SOCKET, SO_SNDTIMEO, &timeout, sizeof timeout);
    if (connect(fd, address->ai_addr, address->ai_addrlen) == 0) {
      break;
    }
    *error = "cannot connect to " + target + ": " + std::strerror(errno);
    close(fd);
    fd = -1;
  }
  freeaddrinfo(found);
  if (fd < 0) {
    return -1;
  }
  timeval no_timeout{};
  setsockopt(fd, SOL_SOCKET, SO_SNDTIMEO, &no_timeout, sizeof no_timeout);
  int one = 1;
  setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof one);
  return fd;
}

}  // namespace

std::vector<std::shared_ptr<grpc::Channel>> open_connections(const LoadOptions& options,
                                                             std::string* error) {
  std::vector<std::shared_ptr<grpc::Channel>> channels;
  for (int i = 0; i < options.connections; ++i) {
    if (options.connect == ConnectMode::kDirect) {
      int fd = connect_tcp(options.target, options.connect_timeout_seconds, error);
      if (fd < 0) {
        return {};
      }
      channels.push_back(
          grpc::CreateCustomInsecureChannelFromFd(options.target, fd, channel_arguments(i)));
    } else {
      channels.push_back(grpc::CreateCustomChannel(
          options.target, grpc::InsecureChannelCredentials(), channel_arguments(i)));
    }
  }
  if (options.connect == ConnectMode::kResolver) {
    auto deadline = std::chrono::system_clock::now() +
                    std::chrono::duration_cast<std::chrono::system_clock::duration>(
                        std::chrono::duration<double>(options.connect_timeout_seconds));
    bool connected = std::all_of(channels.begin(), channels.end(), [&](const auto& channel) {
      return channel->WaitForConnected(deadline);
    });
    if (!connected) {
      std::ostringstream message;
      message << "cannot connect to " << options.target << " within "
              << options.connect_timeout_seconds << " s";
      *error = message.str();
      return {};
    }
  }
  return channels;
}

}  // namespace gryphon::bench
