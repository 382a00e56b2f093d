#include "transport/grpc/connection_watcher.h"

#include <fcntl.h>
#include <sys/epoll.h>
#include <sys/socket.h>
#include <unistd.h>

namespace gryphon::internal {

ConnectionWatcher::ConnectionWatcher(boost::asio::io_context& io)
    : epoll_(io, ::epoll_create1(EPOLL_CLOEXEC)) {
  wait();
}

ConnectionWatcher::~ConnectionWatcher() {
  for (int fd : fds_) ::close(fd);
}

void ConnectionWatcher::watch(int fd) {
  const int copy = ::fcntl(fd, F_DUPFD_CLOEXEC, 0);
  if (copy < 0) return;  // out of descriptors: the connection is served but not counted
  epoll_event event{};
  // HUP, not RDHUP: a peer's half-close is not the end of the connection for gRPC; the
  // connection is gone when gRPC has shut the socket down (or it died with an error).
  event.events = EPOLLHUP | EPOLLERR;
  event.data.fd = copy;
  ::epoll_ctl(epoll_.native_handle(), EPOLL_CTL_ADD, copy, &event);
  fds_.insert(copy);
}

void ConnectionWatcher::wait() {
  epoll_.async_wait(boost::asio::posix::stream_descriptor::wait_read,
                    [this](const boost::system::error_code& ec) {
                      if (ec) return;
                      epoll_event events[64];
                      const int n = ::epoll_wait(epoll_.native_handle(), events, 64, 0);
                      for (int i = 0; i < n; ++i) {
                        const int fd = events[i].data.fd;
                        ::epoll_ctl(epoll_.native_handle(), EPOLL_CTL_DEL, fd, nullptr);
                        // Ours is the last descriptor of the socket: closing it with unread bytes
                        // queued (say a frame the peer sent after our GOAWAY) would make the kernel
                        // send RST, and an RST makes the peer drop response bytes it has not read
                        // yet. Discard them first so it gets a FIN.
                        char discard[4096];
                        while (::recv(fd, discard, sizeof(discard), MSG_DONTWAIT) > 0) {
                        }
                        ::close(fd);
                        fds_.erase(fd);
                      }
                      wait();
                    });
}

}  // namespace gryphon::internal
