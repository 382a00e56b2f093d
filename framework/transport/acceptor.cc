#include "transport/acceptor.h"

#include <sys/socket.h>
#include <unistd.h>

#include <algorithm>
#include <cstring>

#include "observability/logging.h"

namespace gryphon::internal {

Acceptor::Acceptor(boost::asio::io_context& io, const std::vector<ListenSocket>& listeners,
                   int max_connections, std::function<std::size_t()> open_connections,
                   std::function<void(int, bool)> on_accept)
    : max_connections_(max_connections),
      open_connections_(std::move(open_connections)),
      on_accept_(std::move(on_accept)) {
  for (const auto& l : listeners) {
    listeners_.push_back({std::make_unique<boost::asio::posix::stream_descriptor>(io, l.fd),
                          std::make_unique<boost::asio::steady_timer>(io), !l.bound.is_unix()});
  }
}

std::chrono::milliseconds Acceptor::deferral(std::size_t open, int max_connections) {
  if (max_connections <= 0 || open < static_cast<std::size_t>(max_connections))
    return std::chrono::milliseconds(0);
  // 50 ms per connection over the cap (at most 250 ms): long enough for a less loaded worker to
  // be scheduled on a busy two-core machine (10 ms was not: a worker under load at 3 of 4 missed
  // it and its busy neighbour took a fifth), short enough that a connection never waits long.
  const std::size_t over = open - static_cast<std::size_t>(max_connections) + 1;
  return std::chrono::milliseconds(std::min<std::size_t>(50 * over, 250));
}

void Acceptor::start() {
  for (std::size_t i = 0; i < listeners_.size(); ++i) wait(i);
}

void Acceptor::stop() {
  stopped_ = true;
  for (auto& listener : listeners_) {
    listener.timer->cancel();
    // Queued connections are served (the transport drains them with the rest) rather than reset.
    while (accept_one(listener)) {
    }
    boost::system::error_code ignored;
    listener.socket->close(ignored);
  }
}

void Acceptor::wait(std::size_t index) {
  listeners_[index].socket->async_wait(
      boost::asio::posix::stream_descriptor::wait_read,
      [this, index](const boost::system::error_code& ec) {
        if (ec || stopped_) return;
        const auto defer = deferral(open_connections_(), max_connections_);
        if (defer.count() == 0) {
          accept_now(index);
          return;
        }
        auto& timer = *listeners_[index].timer;
        timer.expires_after(defer);
        timer.async_wait([this, index](const boost::system::error_code& ec2) {
          if (!ec2 && !stopped_) accept_now(index);
        });
      });
}

bool Acceptor::accept_one(Listener& listener) {
  const int fd =
      ::accept4(listener.socket->native_handle(), nullptr, nullptr, SOCK_NONBLOCK | SOCK_CLOEXEC);
  if (fd < 0) return false;
  on_accept_(fd, listener.tcp);
  return true;
}

void Acceptor::accept_now(std::size_t index) {
  Listener& listener = listeners_[index];
  if (!accept_one(listener) &&
      (errno == EMFILE || errno == ENFILE || errno == ENOBUFS || errno == ENOMEM)) {
    log::process()->warn(
        "accept failed: {}; backing off 100ms (raise the open-file limit or lower load)",
        std::strerror(errno));
    listener.timer->expires_after(std::chrono::milliseconds(100));
    listener.timer->async_wait([this, index](const boost::system::error_code& ec) {
      if (!ec && !stopped_) wait(index);
    });
    return;
  }
  wait(index);  // for the next one (after EAGAIN: another worker won the race)
}

}  // namespace gryphon::internal
