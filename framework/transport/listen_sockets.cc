#include "transport/listen_sockets.h"

#include <arpa/inet.h>
#include <fcntl.h>
#include <netdb.h>
#include <netinet/in.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/un.h>
#include <unistd.h>

#include <cerrno>
#include <cstring>
#include <map>
#include <stdexcept>

namespace gryphon::internal {
namespace {

[[noreturn]] void fail(const std::string& address, int err) {
  if (err == EADDRINUSE) {
    throw std::runtime_error(
        address + " is already in use: stop the other server on it or choose another --listen");
  }
  if (err == EACCES) {
    throw std::runtime_error("permission denied binding " + address +
                             ": ports below 1024 need privileges; choose another --listen");
  }
  if (err == EADDRNOTAVAIL) {
    throw std::runtime_error(address + " is not an address of this machine; check --listen");
  }
  throw std::runtime_error("cannot listen on " + address + ": " + std::strerror(err));
}

int bind_unix(const ListenAddress& address, unsigned mode) {
  sockaddr_un sun{};
  sun.sun_family = AF_UNIX;
  std::strncpy(sun.sun_path, address.path.c_str(), sizeof(sun.sun_path) - 1);
  struct stat st {};
  if (::lstat(address.path.c_str(), &st) == 0) {
    if (!S_ISSOCK(st.st_mode)) {
      throw std::runtime_error(
          address.to_string() +
          ": the path exists and is not a socket; remove it or choose another path");
    }
    // A socket file left behind by a dead server can be replaced; one with a live server cannot.
    const int probe = ::socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);
    const bool live = ::connect(probe, reinterpret_cast<sockaddr*>(&sun), sizeof(sun)) == 0;
    ::close(probe);
    if (live) fail(address.to_string(), EADDRINUSE);
    ::unlink(address.path.c_str());
  }
  const int fd = ::socket(AF_UNIX, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
  if (fd < 0) fail(address.to_string(), errno);
  if (::bind(fd, reinterpret_cast<sockaddr*>(&sun), sizeof(sun)) != 0) {
    const int err = errno;
    ::close(fd);
    fail(address.to_string(), err);
  }
  ::chmod(address.path.c_str(), mode);
  return fd;
}

int bind_tcp(const ListenAddress& address) {
  addrinfo hints{};
  hints.ai_family = AF_UNSPEC;
  hints.ai_socktype = SOCK_STREAM;
  hints.ai_flags = AI_PASSIVE | AI_NUMERICSERV;
  addrinfo* found = nullptr;
  const std::string port = std::to_string(address.port);
  if (int rc = ::getaddrinfo(address.host.c_str(), port.c_str(), &hints, &found); rc != 0) {
    throw std::runtime_error("cannot resolve host '" + address.host + "' in --listen " +
                             address.to_string() + ": " + ::gai_strerror(rc));
  }
  int last_error = EADDRNOTAVAIL;
  for (addrinfo* ai = found; ai != nullptr; ai = ai->ai_next) {
    const int fd =
        ::socket(ai->ai_family, ai->ai_socktype | SOCK_NONBLOCK | SOCK_CLOEXEC, ai->ai_protocol);
    if (fd < 0) {
      last_error = errno;
      continue;
    }
    const int one = 1;
    ::setsockopt(fd, SOL_SOCKET, SO_REUSEADDR, &one,
                 sizeof(one));  // TIME_WAIT only; never SO_REUSEPORT
    if (::bind(fd, ai->ai_addr, ai->ai_addrlen) == 0) {
      ::freeaddrinfo(found);
      return fd;
    }
    last_error = errno;
    ::close(fd);
  }
  ::freeaddrinfo(found);
  fail(address.to_string(), last_error);
}

}  // namespace

ListenAddress bound_address(int fd, const ListenAddress& requested) {
  ListenAddress bound = requested;
  if (requested.is_unix()) return bound;
  sockaddr_storage ss{};
  socklen_t len = sizeof(ss);
  if (::getsockname(fd, reinterpret_cast<sockaddr*>(&ss), &len) == 0) {
    char host[INET6_ADDRSTRLEN] = {};
    if (ss.ss_family == AF_INET) {
      auto* in = reinterpret_cast<sockaddr_in*>(&ss);
      ::inet_ntop(AF_INET, &in->sin_addr, host, sizeof(host));
      bound.port = ntohs(in->sin_port);
    } else if (ss.ss_family == AF_INET6) {
      auto* in6 = reinterpret_cast<sockaddr_in6*>(&ss);
      ::inet_ntop(AF_INET6, &in6->sin6_addr, host, sizeof(host));
      bound.port = ntohs(in6->sin6_port);
    }
    bound.host = host;
  }
  return bound;
}

ListenSocket bind_listener(const std::string& configured, unsigned unix_mode) {
  const ListenAddress address = ListenAddress::parse(configured);
  const int fd = address.is_unix() ? bind_unix(address, unix_mode) : bind_tcp(address);
  if (::listen(fd, SOMAXCONN) != 0) {
    const int err = errno;
    ::close(fd);
    fail(address.to_string(), err);
  }
  return ListenSocket{configured, bound_address(fd, address), fd};
}

std::string describe_for_inheritance(const std::vector<ListenSocket>& sockets) {
  std::string out;
  for (const auto& s : sockets)
    out += (out.empty() ? "" : ";") + s.configured + "=" + std::to_string(s.fd);
  return out;
}

std::vector<ListenSocket> adopt_listeners(const std::vector<std::string>& configured,
                                          unsigned unix_mode, const char* inherited) {
  std::map<std::string, int> offered;
  if (inherited != nullptr) {
    std::string text = inherited;
    std::size_t start = 0;
    while (start < text.size()) {
      std::size_t end = text.find(';', start);
      if (end == std::string::npos) end = text.size();
      const std::string item = text.substr(start, end - start);
      const auto eq = item.rfind('=');
      if (eq != std::string::npos) offered[item.substr(0, eq)] = std::stoi(item.substr(eq + 1));
      start = end + 1;
    }
  }
  std::vector<ListenSocket> sockets;
  try {
    for (const auto& text : configured) {
      auto it = offered.find(text);
      if (it != offered.end()) {
        ::fcntl(it->second, F_SETFD, FD_CLOEXEC);
        const ListenAddress address = ListenAddress::parse(text);
        sockets.push_back(ListenSocket{text, bound_address(it->second, address), it->second});
        offered.erase(it);
      } else {
        sockets.push_back(bind_listener(text, unix_mode));
      }
    }
  } catch (...) {
    close_listeners(sockets);
    throw;
  }
  for (const auto& [text, fd] : offered) ::close(fd);  // no longer configured
  return sockets;
}

std::vector<ListenSocket> passed_listeners(const std::vector<int>& fds) {
  std::vector<ListenSocket> sockets;
  for (int fd : fds) {
    sockaddr_storage ss{};
    socklen_t len = sizeof(ss);
    ListenAddress requested;
    if (::getsockname(fd, reinterpret_cast<sockaddr*>(&ss), &len) == 0 && ss.ss_family == AF_UNIX) {
      requested.kind = ListenAddress::Kind::kUnix;
      requested.path = reinterpret_cast<sockaddr_un*>(&ss)->sun_path;
    }
    const ListenAddress bound = bound_address(fd, requested);
    sockets.push_back(ListenSocket{bound.to_string(), bound, fd});
  }
  return sockets;
}

void close_listeners(std::vector<ListenSocket>& sockets) {
  for (auto& s : sockets) {
    if (s.fd >= 0) ::close(s.fd);
    s.fd = -1;
  }
}

}  // namespace gryphon::internal
