// gryphon::detail::AsyncScope: where one async call lives — the event loop its coroutine runs on —
// and what wakes the operations it awaits when the call is cancelled (the client cancels or goes
// away, the deadline passes, a drain's grace ends). Not for service code: include gryphon/async.h.
//
// Threading: the loop's thread only. The transport cancels through ServerCall::on_cancel's hook,
// which runs there; an awaiting operation subscribes a hook that wakes it.
#pragma once

#include <boost/asio/any_io_executor.hpp>
#include <boost/asio/post.hpp>
#include <algorithm>
#include <cstddef>
#include <functional>
#include <memory>
#include <utility>
#include <vector>

namespace gryphon::detail {

class AsyncScope {
 public:
  using Hook = std::function<void()>;

  // What an awaiting operation holds while it waits: its hook runs only while this lives.
  class Subscription {
   public:
    Subscription() = default;
    explicit Subscription(std::shared_ptr<Hook> hook) : hook_(std::move(hook)) {}
    Subscription(Subscription&&) noexcept = default;
    Subscription& operator=(Subscription&&) noexcept = default;

   private:
    std::shared_ptr<Hook> hook_;
  };

  explicit AsyncScope(boost::asio::any_io_executor executor) : executor_(std::move(executor)) {}
  AsyncScope(const AsyncScope&) = delete;
  AsyncScope& operator=(const AsyncScope&) = delete;

  const boost::asio::any_io_executor& executor() const { return executor_; }
  bool cancelled() const { return cancelled_; }

  // Runs the hook of every live subscription, once.
  void cancel() {
    if (cancelled_) return;
    cancelled_ = true;
    auto hooks = std::move(hooks_);
    hooks_.clear();
    for (auto& weak : hooks) {
      if (auto hook = weak.lock()) (*hook)();
    }
  }
  // `hook` runs on cancel() while the Subscription lives. Subscribed after cancel(), it runs on
  // the loop as soon as the coroutine next suspends — once it has started the operation the hook
  // ends.
  Subscription subscribe(Hook hook) {
    auto shared = std::make_shared<Hook>(std::move(hook));
    if (cancelled_) {
      boost::asio::post(executor_, [weak = std::weak_ptr<Hook>(shared)] {
        if (auto live = weak.lock()) (*live)();
      });
    } else {
      if (hooks_.size() >= prune_at_) {  // a long call subscribes again and again: drop the dead
        hooks_.erase(std::remove_if(hooks_.begin(), hooks_.end(),
                                    [](const std::weak_ptr<Hook>& weak) { return weak.expired(); }),
                     hooks_.end());
        prune_at_ = std::max<std::size_t>(8, 2 * hooks_.size());
      }
      hooks_.push_back(shared);
    }
    return Subscription(std::move(shared));
  }

 private:
  boost::asio::any_io_executor executor_;
  std::vector<std::weak_ptr<Hook>> hooks_;
  std::size_t prune_at_ = 8;
  bool cancelled_ = false;
};

}  // namespace gryphon::detail
