// Bytes one worker holds for all its connections against a limit, shared by its I/O threads:
// response bytes framed and not yet sent, request bytes buffered. A connection that finds the
// worker over a limit waits (wait()) and is woken on its own I/O thread as soon as another
// connection brings the total back under it: no polling, and nothing waits longer than the bytes
// that fill the budget stay.
#pragma once

#include <boost/asio/io_context.hpp>
#include <atomic>
#include <cstddef>
#include <functional>
#include <mutex>
#include <utility>
#include <vector>

#include "config/config.h"

namespace gryphon::internal::native {

class WorkerBudget {
 public:
  explicit WorkerBudget(std::size_t limit) : limit_(limit) {}
  WorkerBudget(const WorkerBudget&) = delete;
  WorkerBudget& operator=(const WorkerBudget&) = delete;

  std::size_t limit() const { return limit_; }
  std::size_t bytes() const { return bytes_.load(); }
  bool over() const { return bytes_.load() > limit_; }
  // Twice the limit: where waiting is no longer enough and the holders are shed.
  bool far_over() const { return bytes_.load() > 2 * limit_; }

  void add(std::size_t bytes) { bytes_ += bytes; }  // any thread
  void remove(std::size_t bytes);                   // any thread; wakes the waiters once under
  // Runs `wake` on `io` once the total is under the limit: at once (posted) if it already is.
  // Each call wakes once.
  void wait(boost::asio::io_context& io, std::function<void()> wake);

 private:
  void wake_all();

  const std::size_t limit_;
  std::atomic<std::size_t> bytes_{0};
  std::atomic<bool> waiting_{false};
  std::mutex mutex_;
  std::vector<std::pair<boost::asio::io_context*, std::function<void()>>> waiters_;
};

// The two budgets of one native-transport worker, sized from its message limits.
struct WorkerBudgets {
  explicit WorkerBudgets(const Config& config);
  WorkerBudgets(std::size_t response_limit, std::size_t request_limit)
      : responses(response_limit), requests(request_limit) {}
  WorkerBudget responses;  // unsent response bytes: new calls wait while over
  WorkerBudget requests;   // buffered request bytes: windows and inflating wait while over
};

}  // namespace gryphon::internal::native
