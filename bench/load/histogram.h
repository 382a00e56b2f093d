// LatencyHistogram: an HDR-style log-linear histogram of non-negative integers (the load
// generator records latencies in nanoseconds). Values below 2^(kSubBucketBits + 1) get a bucket
// each; above that every power-of-two range [2^k, 2^(k+1)) is cut into 2^kSubBucketBits equal
// buckets, so a percentile is reported within 1/2^kSubBucketBits (0.4%) above the true value and
// the whole 64-bit range fits in a fixed 117 kB table. record() is O(1) and never allocates.
//
// Not thread-safe: give each thread its own histogram and merge() them once the threads are done.
#pragma once

#include <algorithm>
#include <bit>
#include <cmath>
#include <cstddef>
#include <cstdint>
#include <limits>
#include <vector>

namespace gryphon::bench {

class LatencyHistogram {
 public:
  static constexpr int kSubBucketBits = 8;

  LatencyHistogram() : counts_(kBucketCount, 0) {}

  void record(std::uint64_t value) {
    ++counts_[bucket_index(value)];
    ++count_;
    sum_ += static_cast<double>(value);
    min_ = std::min(min_, value);
    max_ = std::max(max_, value);
  }

  void merge(const LatencyHistogram& other) {
    for (std::size_t i = 0; i < kBucketCount; ++i) {
      counts_[i] += other.counts_[i];
    }
    count_ += other.count_;
    sum_ += other.sum_;
    min_ = std::min(min_, other.min_);
    max_ = std::max(max_, other.max_);
  }

  void reset() { *this = LatencyHistogram(); }

  std::uint64_t count() const { return count_; }
  std::uint64_t min() const { return count_ == 0 ? 0 : min_; }
  std::uint64_t max() const { return max_; }
  double mean() const { return count_ == 0 ? 0.0 : sum_ / static_cast<double>(count_); }

  // The value at percentile p (0..100): the highest value of the bucket that holds the
  // ceil(p% of count)-th smallest recording, clamped to [min(), max()]. 0 when empty.
  std::uint64_t percentile(double p) const {
    if (count_ == 0) {
      return 0;
    }
    double wanted = std::ceil(std::clamp(p, 0.0, 100.0) / 100.0 * static_cast<double>(count_));
    std::uint64_t rank = std::max<std::uint64_t>(1, static_cast<std::uint64_t>(wanted));
    std::uint64_t seen = 0;
    for (std::size_t i = 0; i < kBucketCount; ++i) {
      seen += counts_[i];
      if (seen >= rank) {
        return std::clamp(bucket_highest(i), min_, max_);
      }
    }
    return max_;
  }

  // Bucket arithmetic, public for the unit test.
  static std::size_t bucket_index(std::uint64_t value) {
    int width = std::bit_width(value);
    int shift = std::max(0, width - (kSubBucketBits + 1));
    return (static_cast<std::size_t>(shift) << kSubBucketBits) + (value >> shift);
  }

  static std::uint64_t bucket_highest(std::size_t index) {
    std::size_t half = index >> kSubBucketBits;
    if (half <= 1) {
      return index;
    }
    int shift = static_cast<int>(half) - 1;
    std::uint64_t top = index - (static_cast<std::size_t>(shift) << kSubBucketBits);
    return (top << shift) + ((std::uint64_t{1} << shift) - 1);
  }

 private:
  static constexpr std::size_t kBucketCount =
      ((64 - kSubBucketBits - 1) << kSubBucketBits) + (std::size_t{1} << (kSubBucketBits + 1));

  std::vector<std::uint64_t> counts_;
  std::uint64_t count_ = 0;
  double sum_ = 0;
  std::uint64_t min_ = std::numeric_limits<std::uint64_t>::max();
  std::uint64_t max_ = 0;
};

}  // namespace gryphon::bench
