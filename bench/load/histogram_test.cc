#include "histogram.h"

#include <catch2/catch.hpp>
#include <cmath>
#include <cstdint>

using gryphon::bench::LatencyHistogram;

namespace {

// The promise histogram.h makes: a reported value reads high by at most 1/256 (0.4%).
constexpr double kRelativeError = 1.0 / 256;

void require_close(std::uint64_t reported, double expected) {
  INFO("reported " << reported << ", expected " << expected);
  REQUIRE(static_cast<double>(reported) >= expected * (1 - 1e-9) - 1);
  REQUIRE(static_cast<double>(reported) <= expected * (1 + kRelativeError) + 1);
}

}  // namespace

TEST_CASE("an empty histogram reports zeros") {
  LatencyHistogram histogram;
  REQUIRE(histogram.count() == 0);
  REQUIRE(histogram.percentile(50) == 0);
  REQUIRE(histogram.max() == 0);
  REQUIRE(histogram.min() == 0);
}

TEST_CASE("values below 512 are kept exactly") {
  LatencyHistogram histogram;
  for (std::uint64_t v = 0; v < 512; ++v) {
    histogram.record(v);
  }
  REQUIRE(histogram.percentile(50) == 255);
  REQUIRE(histogram.percentile(10) == 51);
  REQUIRE(histogram.percentile(33) == 168);
  REQUIRE(histogram.percentile(90) == 460);
  REQUIRE(histogram.percentile(100) == 511);
  REQUIRE(histogram.percentile(0) == 0);
  REQUIRE(histogram.min() == 0);
  REQUIRE(histogram.max() == 511);
}

TEST_CASE("bucket bounds cover every value without gaps") {
  for (std::uint64_t v :
       {0ull, 1ull, 511ull, 512ull, 513ull, 1000ull, 123456789ull, (1ull << 40) + 12345, ~0ull}) {
    std::size_t index = LatencyHistogram::bucket_index(v);
    INFO("value " << v);
    REQUIRE(LatencyHistogram::bucket_highest(index) >= v);
    REQUIRE(static_cast<double>(LatencyHistogram::bucket_highest(index) - v) <=
            static_cast<double>(v) * kRelativeError);
    if (index > 0) {
      REQUIRE(LatencyHistogram::bucket_highest(index - 1) < v);
    }
  }
}

TEST_CASE("percentiles of a uniform distribution are within 0.4%") {
  LatencyHistogram histogram;
  for (std::uint64_t v = 1; v <= 1'000'000; ++v) {
    histogram.record(v);
  }
  REQUIRE(histogram.count() == 1'000'000);
  require_close(histogram.percentile(50), 500'000);
  require_close(histogram.percentile(90), 900'000);
  require_close(histogram.percentile(99), 990'000);
  require_close(histogram.percentile(99.9), 999'000);
  REQUIRE(histogram.max() == 1'000'000);
  REQUIRE(histogram.mean() == Approx(500'000.5));
}

TEST_CASE("percentiles of an exponential distribution follow its quantile function") {
  // Evenly spaced quantiles of an exponential with a 1 ms mean: a deterministic sample.
  constexpr double kMeanNs = 1e6;
  constexpr int kSamples = 200'000;
  LatencyHistogram histogram;
  for (int i = 0; i < kSamples; ++i) {
    double p = (i + 0.5) / kSamples;
    histogram.record(static_cast<std::uint64_t>(-kMeanNs * std::log(1 - p)));
  }
  for (double p : {50.0, 90.0, 99.0, 99.9}) {
    INFO("percentile " << p);
    require_close(histogram.percentile(p), -kMeanNs * std::log(1 - p / 100));
  }
}

TEST_CASE("a rare slow mode shows at p99.9 and not at p99") {
  LatencyHistogram histogram;
  for (int i = 0; i < 99'500; ++i) {
    histogram.record(100'000);  // 100 µs
  }
  for (int i = 0; i < 500; ++i) {
    histogram.record(40'000'000);  // 40 ms
  }
  require_close(histogram.percentile(99), 100'000);
  require_close(histogram.percentile(99.9), 40'000'000);
  REQUIRE(histogram.max() == 40'000'000);
  REQUIRE(histogram.min() == 100'000);
}

TEST_CASE("merging per-thread histograms equals recording into one") {
  LatencyHistogram whole;
  LatencyHistogram even;
  LatencyHistogram odd;
  for (std::uint64_t v = 1; v <= 100'000; ++v) {
    whole.record(v * 37);
    (v % 2 ? odd : even).record(v * 37);
  }
  even.merge(odd);
  REQUIRE(even.count() == whole.count());
  for (double p : {0.0, 10.0, 50.0, 99.0, 99.99, 100.0}) {
    REQUIRE(even.percentile(p) == whole.percentile(p));
  }
  REQUIRE(even.min() == whole.min());
  REQUIRE(even.max() == whole.max());
}

TEST_CASE("the largest 64-bit value is recorded without overflow") {
  LatencyHistogram histogram;
  histogram.record(~0ull);
  histogram.record(1);
  REQUIRE(histogram.percentile(100) == ~0ull);
  REQUIRE(histogram.percentile(50) == 1);
}
