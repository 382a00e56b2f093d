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
  const auto millis =
      std::chrono::duration_cast<std::chrono::milliseconds>(t.time_since_epoch()).count();
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
      0,              // 1970-01-01T00:00:00.000Z
      951782399999,   // 2000-02-28T23:59:59.999Z, the day before a century leap day
      951868800000,   // 2000-03-01
      1709164800000,  // 2024-02-29
      1795517307123,  // 2026-11-24T10:48:27.123Z
      4107542400000,  // 2100-03-01 (2100 is no leap year)
      7258118399999   // 2199-12-31T23:59:59.999Z (system_clock counts nanoseconds: 2262 at most)
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

// Decodes the JSON string that starts right after `"key":"` in `line` (the escapes the access log
// writes: \" \\ \n \r \t \u00XX); fails the test on a raw control character.
std::string json_string_field(const std::string& line, const std::string& key) {
  const std::string start = "\"" + key + "\":\"";
  auto at = line.find(start);
  REQUIRE(at != std::string::npos);
  std::string value;
  for (at += start.size(); at < line.size() && line[at] != '"'; ++at) {
    const auto c = static_cast<unsigned char>(line[at]);
    REQUIRE(c >= 0x20);
    if (c != '\\') {
      value += static_cast<char>(c);
      continue;
    }
    const char kind = line.at(++at);
    switch (kind) {
      case 'n': value += '\n'; break;
      case 'r': value += '\r'; break;
      case 't': value += '\t'; break;
      case 'u':
        value += static_cast<char>(std::stoi(line.substr(at + 1, 4), nullptr, 16));
        at += 4;
        break;
      default: value += kind;  // \" and \\ .
    }
  }
  REQUIRE(at < line.size());
  return value;
}

TEST_CASE(
    "a JSON access-log line carries any error text exactly, whatever needs escaping and where") {
  AccessLog log("/dev/null", AccessLogFormat::kJson, 0, nullptr);
  static const MethodDef method{"pkg.Service", "Call", RpcType::kUnary, {}, {}};
  CallInfo call;
  call.method = &method;
  std::string every_byte;
  for (int c = 1; c < 256; ++c) every_byte += static_cast<char>(c);
  // Each special character at each offset within an 8-byte word, and runs of plain text around
  // them.
  for (const std::string special : {"\"", "\\", "\n", "\x01", "\x1f", " ", "\x7f", "\xc3\xa9"}) {
    for (std::size_t offset = 0; offset < 17; ++offset) {
      const std::string text = std::string(offset, 'a') + special + std::string(9, 'b') + special;
      INFO("offset " << offset);
      CHECK(json_string_field(log.format(call, grpc::Status(grpc::StatusCode::INTERNAL, text)),
                              "grpc.error") == text);
    }
  }
  CHECK(json_string_field(log.format(call, grpc::Status(grpc::StatusCode::INTERNAL, every_byte)),
                          "grpc.error") == every_byte);
}

}  // namespace
}  // namespace gryphon::internal
