// ConnectionWatcher: counts the connections handed to gRPC and notices when each one closes.
//
// gRPC gives no close callback for a handed-off connection, so a dup of its fd is watched for HUP
// in an epoll set whose readiness the worker's Asio loop waits on. (gRPC shuts a socket down
// before closing it, so the dup never keeps a connection alive.) Main-thread only.
#pragma once

#include <boost/asio/io_context.hpp>
#include <boost/asio/posix/stream_descriptor.hpp>
#include <set>

namespace gryphon::internal {

class ConnectionWatcher {
 public:
  explicit ConnectionWatcher(boost::asio::io_context& io);
  ~ConnectionWatcher();
  ConnectionWatcher(const ConnectionWatcher&) = delete;
  ConnectionWatcher& operator=(const ConnectionWatcher&) = delete;

  // Call before handing `fd` to gRPC.
  void watch(int fd);
  std::size_t open() const { return fds_.size(); }

 private:
  void wait();

  boost::asio::posix::stream_descriptor epoll_;
  std::set<int> fds_;
};

}  // namespace gryphon::internal
