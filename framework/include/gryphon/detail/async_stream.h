// gryphon::detail::AsyncRawStream and AsyncStream: how an async handler's stream reads and writes
// without holding a thread. Not for service code: a handler gets gryphon::AsyncWriter,
// AsyncReader or AsyncReaderWriter (gryphon/async.h), which are built on these.
//
// A transport implements AsyncRawStream once per call: each function answers at once on the
// call's loop — done, over, or "not yet" (kWait) — and the transport calls the wake hook when a
// "not yet" may have changed (a message arrived, the client's window took the bytes, the call
// ended). AsyncStream turns that into awaitable operations: it suspends the coroutine on a timer
// used as an event until the wake, and bounds each wait by the transport's limits
// (--stream-idle-timeout for a read, --stream-write-timeout for a write that makes no progress).
//
// Threading: the call's loop only. One read and one write may wait at the same time (a reader
// and a writer coroutine of one bidi call); two reads, or two writes, may not.
#pragma once

#include <utility>
// clang-format off: <utility> must come first (async.h)
#include <boost/asio/awaitable.hpp>
// clang-format on
#include <boost/asio/steady_timer.hpp>
#include <chrono>
#include <cstdint>
#include <functional>
#include <string>
#include <string_view>

#include "gryphon/detail/async_scope.h"
#include "gryphon/write_options.h"

namespace gryphon::detail {

class AsyncRawStream {
 public:
  enum class Poll { kReady, kEnded, kWait };
  struct Limits {
    std::chrono::milliseconds read_idle{0};  // 0: a read waits as long as the call lasts
    std::chrono::milliseconds write{0};      // 0: a write waits as long as the call lasts
  };
  virtual ~AsyncRawStream() = default;

  // kReady: `message` holds the next request message. kEnded: the client finished sending, or
  // the call is over.
  virtual Poll poll_read(std::string& message) = 0;
  // kReady: the transport took `message` (it may still be on its way: the next write, or the
  // status, waits until it has left). kEnded: the call is over. kWait: an earlier message is
  // still leaving and nothing was done with this one — call again with it after the wake.
  virtual Poll poll_write(std::string_view message, const WriteOptions& options) = 0;
  virtual Poll poll_send_initial_metadata() = 0;
  // kReady once every message written has left (or leaves with the status): the status may
  // follow now.
  virtual Poll poll_flushed() = 0;
  // `wake` runs on the loop whenever an answer kWait may have changed; nullptr removes it.
  virtual void on_wake(std::function<void()> wake) = 0;
  // Changes whenever the client takes response bytes: what a waiting write's timeout measures.
  virtual std::uint64_t write_progress() const = 0;
  virtual Limits limits() const = 0;
  // A wait ran past its limit: the transport ends the call, logs and counts it.
  virtual void read_timed_out() = 0;
  virtual void write_timed_out() = 0;
};

class AsyncStream {
 public:
  AsyncStream(AsyncRawStream& raw, AsyncScope& scope);
  ~AsyncStream() { detach(); }
  AsyncStream(const AsyncStream&) = delete;
  AsyncStream& operator=(const AsyncStream&) = delete;

  // The next request message; false once the client has finished sending or the call ended.
  boost::asio::awaitable<bool> read(std::string& message);
  // Hands one message to the transport, after the previous one has left; false once the call
  // ended (then the handler should return: its status is what the call ended with).
  boost::asio::awaitable<bool> write(std::string_view message, WriteOptions options);
  boost::asio::awaitable<bool> send_initial_metadata();
  // Waits until every message written has left: before the status.
  boost::asio::awaitable<bool> flush();
  // The transport's stream is no longer this one's (the call was answered).
  void detach();

  std::uint64_t messages_read = 0, bytes_read = 0, messages_written = 0, bytes_written = 0;

 private:
  using Clock = std::chrono::steady_clock;
  struct Event {
    explicit Event(const boost::asio::any_io_executor& executor) : timer(executor) {}
    boost::asio::steady_timer timer;
    bool waiting = false;
  };
  void wake();
  // Suspends until the wake (true) or until `until` (false); at once if a wake came since
  // `seen` was read.
  boost::asio::awaitable<bool> wait(Event& event, std::uint64_t seen, Clock::time_point until);
  // Polls `poll` until it answers, each wait bounded by the write limit while no bytes leave
  // (defined, and only used, in the framework).
  template <class PollFn>
  boost::asio::awaitable<bool> until_taken(PollFn poll);

  AsyncRawStream* raw_;
  AsyncScope& scope_;
  Event reading_, writing_;
  std::uint64_t wakes_ = 0;
  AsyncScope::Subscription cancel_;
};

}  // namespace gryphon::detail
