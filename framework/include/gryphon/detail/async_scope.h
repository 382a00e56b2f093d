// gryphon::detail::AsyncScope: where one async call lives — the event loop its coroutine runs on —
// and what wakes the operations it awaits when the call is cancelled (the client cancels or goes
// away, the deadline passes, a drain's grace ends). Not for service code: include gryphon/async.h.
//
// Threading: the loop's thread only. The transport cancels through ServerCall::on_cancel's hook,
// which runs there; an awaiting operation subscribes and is woken at once.
#pragma once

#include <boost/asio/any_io_executor.hpp>
#include <functional>
#include <list>
#include <utility>

namespace gryphon::detail {

class AsyncScope {
 public:
  // What an awaiting operation holds while it waits; it unsubscribes when destroyed.
  class Subscription {
   public:
    Subscription() = default;
    Subscription(AsyncScope* scope, std::list<std::function<void()>>::iterator at)
        : scope_(scope), at_(at) {}
    Subscription(Subscription&& other) noexcept
        : scope_(std::exchange(other.scope_, nullptr)), at_(other.at_) {}
    Subscription& operator=(Subscription&&) = delete;
    ~Subscription() {
      // Once cancelled, the scope holds no hook any more.
      if (scope_ != nullptr && !scope_->cancelled_) scope_->hooks_.erase(at_);
    }

   private:
    AsyncScope* scope_ = nullptr;
    std::list<std::function<void()>>::iterator at_;
  };

  explicit AsyncScope(boost::asio::any_io_executor executor) : executor_(std::move(executor)) {}
  AsyncScope(const AsyncScope&) = delete;
  AsyncScope& operator=(const AsyncScope&) = delete;

  const boost::asio::any_io_executor& executor() const { return executor_; }
  bool cancelled() const { return cancelled_; }

  // Runs every subscribed hook once.
  void cancel() {
    if (cancelled_) return;
    cancelled_ = true;
    auto hooks = std::move(hooks_);
    hooks_.clear();
    for (auto& hook : hooks) hook();
  }
  // `hook` runs on cancel(), unless the Subscription is destroyed first. After cancel() it is
  // not kept: an operation checks cancelled() before it waits.
  Subscription subscribe(std::function<void()> hook) {
    if (cancelled_) return {};
    return Subscription(this, hooks_.insert(hooks_.end(), std::move(hook)));
  }

 private:
  boost::asio::any_io_executor executor_;
  std::list<std::function<void()>> hooks_;
  bool cancelled_ = false;
};

}  // namespace gryphon::detail
