// AccessLog::format: the timestamps it writes by hand (no gmtime_r on the RPC path) must be the
// same UTC time the C library gives, across leap years, century rules and millisecond edges.
#include "access_log.h"

#include <catch2/catch.hpp>

#include <chrono>
#include <cstdint>
#include <ctime>
#include <random>
#include <string>

namespace gryphon::internal {
namespace {

std::string libc_time(std::chrono::system_clock::time_point t) {
  const auto millis = std::chrono::duration_cast<std::chrono::milliseconds>(t.time_since_epoch()).count();
  const std::time_t seconds = static_cast<std::time_t>(millis / 1000);
  std::tm tm{};
  ::gmtime_r(&seconds, &tm);
  char buffer[64];
  const std::size_t n = std::strftime(buffer, sizeof(buffer), "%Y-%m-%dT%H:%M:%S", &tm);
  char fraction[8];
  std::snprintf(fraction, sizeof(fraction), ".%03dZ", static_cast<int>(millis % 1000));
  return std::string(buffer, n) + fraction;
}

std::string logged_start_time(AccessLog& log, std::chrono::system_clock::time_point t) {
  static const MethodDef method{"pkg.Service", "Call", RpcType::kUnary, {}, {}};
  CallInfo call;
  call.method = &method;
  call.start_wall = t;
  const std::string line = log.format(call, grpc::Status::OK);
  const std::string key = "grpc.start_time=";
  const auto at = line.find(key);
  REQUIRE(at != std::string::npos);
  return line.substr(at + key.size(), line.find(' ', at) - at - key.size());
}

TEST_CASE("the access log's timestamps match the C library's UTC time") {
  AccessLog log("/dev/null", AccessLogFormat::kText, 0, nullptr);
  using std::chrono::milliseconds;
  const std::int64_t fixed[] = {
      0,               // 1970-01-01T00:00:00.000Z
      951782399999,    // 2000-02-28T23:59:59.999Z, the day before a century leap day
      951868800000,    // 2000-03-01
      1709164800000,   // 2024-02-29
      1795517307123,   // 2026-11-24T10:48:27.123Z
      4107542400000,   // 2100-03-01 (2100 is no leap year)
      7258118399999    // 2199-12-31T23:59:59.999Z (system_clock counts nanoseconds: 2262 at most)
  };
  for (const std::int64_t ms : fixed) {
    const std::chrono::system_clock::time_point t{milliseconds(ms)};
    INFO("milliseconds since the epoch: " << ms);
    CHECK(logged_start_time(log, t) == libc_time(t));
  }
  std::mt19937_64 random(42);
  std::uniform_int_distribution<std::int64_t> any_ms(0, 7258118400000);  // up to 2200
  for (int i = 0; i < 20000; ++i) {
    const std::int64_t ms = any_ms(random);
    const std::chrono::system_clock::time_point t{milliseconds(ms)};
    INFO("milliseconds since the epoch: " << ms);
    REQUIRE(logged_start_time(log, t) == libc_time(t));
  }
}

}  // namespace
}  // namespace gryphon::internal
