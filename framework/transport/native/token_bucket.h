// A token bucket: `burst` tokens to start with, refilled at `rate` per second up to `burst`.
// One connection's allowance of something a client can make the server do (send resets, start
// calls); the session answers an empty bucket with GOAWAY ENHANCE_YOUR_CALM.
#pragma once

#include <algorithm>
#include <chrono>

namespace gryphon::internal::native {

class TokenBucket {
 public:
  TokenBucket(double burst, double rate)
      : burst_(burst), rate_(rate), tokens_(burst), refilled_(std::chrono::steady_clock::now()) {}

  // Takes one token; false once there was none left.
  bool take() {
    const auto now = std::chrono::steady_clock::now();
    tokens_ =
        std::min(burst_, tokens_ + std::chrono::duration<double>(now - refilled_).count() * rate_);
    refilled_ = now;
    tokens_ -= 1;
    return tokens_ >= 0;
  }

 private:
  const double burst_;
  const double rate_;
  double tokens_;
  std::chrono::steady_clock::time_point refilled_;
};

}  // namespace gryphon::internal::native
