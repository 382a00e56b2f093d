#include "transport/native/worker_budget.h"

#include <boost/asio/post.hpp>
#include <algorithm>

namespace gryphon::internal::native {
namespace {

constexpr std::size_t kWorkerResponseBudget = 64 << 20;  // unsent response bytes per worker
constexpr std::size_t kWorkerRequestBudget = 64 << 20;   // buffered request bytes per worker

}  // namespace

void WorkerBudget::remove(std::size_t bytes) {
  // Sequentially consistent with wait(): either this sees the waiter's flag or the waiter sees
  // the lower total, so no waiter sleeps through the moment the budget frees up.
  if ((bytes_ -= bytes) <= limit_ && waiting_.load()) wake_all();
}

void WorkerBudget::wait(boost::asio::io_context& io, std::function<void()> wake) {
  {
    std::lock_guard lock(mutex_);
    waiters_.emplace_back(&io, std::move(wake));
    waiting_ = true;
  }
  if (!over()) wake_all();
}

void WorkerBudget::wake_all() {
  std::vector<std::pair<boost::asio::io_context*, std::function<void()>>> waiters;
  {
    std::lock_guard lock(mutex_);
    waiters.swap(waiters_);
    waiting_ = false;
  }
  for (auto& [io, wake] : waiters) boost::asio::post(*io, std::move(wake));
}

WorkerBudgets::WorkerBudgets(const Config& config)
    : responses(std::max<std::size_t>(kWorkerResponseBudget, 8 * config.max_send_message_size)),
      requests(std::max<std::size_t>(kWorkerRequestBudget, 8 * config.max_receive_message_size)) {}

}  // namespace gryphon::internal::native
