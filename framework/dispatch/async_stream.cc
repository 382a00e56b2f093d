// detail::AsyncStream: an async handler's stream operations, suspended on the call's loop until
// the transport's wake, each wait bounded by the transport's limits.
#include "gryphon/async.h"  // first: it includes <utility> before Asio's awaitable header

#include <boost/asio/redirect_error.hpp>
#include <optional>

#include "gryphon/detail/async_stream.h"

namespace gryphon::detail {

using Poll = AsyncRawStream::Poll;

AsyncStream::AsyncStream(AsyncRawStream& raw, AsyncScope& scope)
    : raw_(&raw), scope_(scope), reading_(scope.executor()), writing_(scope.executor()) {
  raw_->on_wake([this] { wake(); });
  // A --default-deadline or a drain's end cancels the scope without the transport knowing: a
  // wait ends then too.
  cancel_ = scope_.subscribe([this] { wake(); });
}

void AsyncStream::detach() {
  if (raw_ != nullptr) std::exchange(raw_, nullptr)->on_wake(nullptr);
}

void AsyncStream::wake() {
  ++wakes_;
  if (reading_.waiting) reading_.timer.cancel();
  if (writing_.waiting) writing_.timer.cancel();
}

boost::asio::awaitable<bool> AsyncStream::wait(Event& event, std::uint64_t seen,
                                               Clock::time_point until) {
  if (wakes_ != seen) co_return true;
  event.timer.expires_at(until);
  event.waiting = true;
  boost::system::error_code error;
  co_await event.timer.async_wait(boost::asio::redirect_error(use_task, error));
  event.waiting = false;
  co_return error || wakes_ != seen;
}

// A read or write that the transport answers at once (most do) reads no clock and asks for no
// limit: those are looked at only once it has to wait.
boost::asio::awaitable<bool> AsyncStream::read(std::string& message) {
  std::optional<Clock::time_point> until;  // the idle limit, from the first wait
  for (;;) {
    if (raw_ == nullptr || scope_.cancelled()) co_return false;
    const std::uint64_t seen = wakes_;
    switch (raw_->poll_read(message)) {
      case Poll::kReady:
        ++messages_read;
        bytes_read += message.size();
        co_return true;
      case Poll::kEnded: co_return false;
      case Poll::kWait: break;
    }
    if (!until) {
      const auto idle = raw_->limits().read_idle;
      until = idle.count() > 0 ? Clock::now() + idle : Clock::time_point::max();
    }
    const bool woken = co_await wait(reading_, seen, *until);
    if (!woken && Clock::now() >= *until) {
      // A client that holds the stream open and sends nothing holds its slot: not for longer.
      if (raw_ != nullptr) raw_->read_timed_out();
      co_return false;
    }
  }
}

template <class PollFn>
boost::asio::awaitable<bool> AsyncStream::until_taken(PollFn poll) {
  // Progress is looked at four times per limit, as a blocking write does: the call ends between
  // 1 and 1.25 limits after the client last took a byte. All of it from the first wait.
  std::chrono::milliseconds limit{0};
  std::uint64_t progress = 0;
  std::optional<Clock::time_point> moved_at;
  for (;;) {
    if (raw_ == nullptr || scope_.cancelled()) co_return false;
    const std::uint64_t seen = wakes_;
    switch (poll()) {
      case Poll::kReady: co_return true;
      case Poll::kEnded: co_return false;
      case Poll::kWait: break;
    }
    if (!moved_at) {
      limit = raw_->limits().write;
      progress = raw_->write_progress();
      moved_at = Clock::now();
    }
    const auto until = limit.count() > 0 ? Clock::now() + limit / 4 : Clock::time_point::max();
    const bool woken = co_await wait(writing_, seen, until);
    if (woken || raw_ == nullptr) continue;
    const auto now = Clock::now();
    if (const std::uint64_t now_progress = raw_->write_progress(); now_progress != progress) {
      progress = now_progress;
      moved_at = now;
    } else if (now - *moved_at >= limit) {
      raw_->write_timed_out();
      co_return false;
    }
  }
}

boost::asio::awaitable<bool> AsyncStream::write(std::string_view message, WriteOptions options) {
  const bool taken = co_await until_taken([&] { return raw_->poll_write(message, options); });
  if (taken) {
    ++messages_written;
    bytes_written += message.size();
  }
  co_return taken;
}

boost::asio::awaitable<bool> AsyncStream::send_initial_metadata() {
  co_return co_await until_taken([this] { return raw_->poll_send_initial_metadata(); });
}

boost::asio::awaitable<bool> AsyncStream::flush() {
  co_return co_await until_taken([this] { return raw_->poll_flushed(); });
}

}  // namespace gryphon::detail
