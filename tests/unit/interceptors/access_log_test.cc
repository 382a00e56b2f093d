// AccessLog::format: the timestamps it writes by hand (no gmtime_r on the RPC path) must be the
// same UTC time the C library gives, across leap years, century rules and millisecond edges.
#include "access_log.h"

#include <fcntl.h>
#include <sys/ioctl.h>
#include <sys/stat.h>
#include <unistd.h>

#include <catch2/catch.hpp>

#include <chrono>
#include <cstdint>
#include <ctime>
#include <filesystem>
#include <random>
#include <string>
#include <thread>

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
  static const MethodDef method{
      .service = "pkg.Service", .method = "Call", .type = RpcType::kUnary};
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
  static const MethodDef method{
      .service = "pkg.Service", .method = "Call", .type = RpcType::kUnary};
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

TEST_CASE("a log nobody reads drops and counts lines instead of blocking the RPC's thread") {
  // A FIFO whose reader reads nothing yet: the writer thread blocks once the pipe (64 KiB) is
  // full, the 16 KiB queue fills behind it, and log() must then drop and count, never wait.
  char dir_template[] = "/tmp/gryphon-access-log-XXXXXX";
  REQUIRE(::mkdtemp(dir_template) != nullptr);
  const std::string fifo = std::string(dir_template) + "/access.fifo";
  REQUIRE(::mkfifo(fifo.c_str(), 0600) == 0);
  const int reader = ::open(fifo.c_str(), O_RDONLY | O_NONBLOCK | O_CLOEXEC);
  REQUIRE(reader >= 0);
  std::atomic<std::uint64_t> dropped{0};
  auto log = std::make_unique<AccessLog>(fifo, AccessLogFormat::kText, 3, &dropped, 16u << 10);
  REQUIRE(::fcntl(reader, F_SETFL, 0) == 0);  // blocking reads from here on

  static const MethodDef method{
      .service = "pkg.Service", .method = "Call", .type = RpcType::kUnary};
  CallInfo call;
  call.method = &method;
  call.start_wall = std::chrono::system_clock::now();
  // First until the pipe holds 32 KiB nobody reads (the writer soon blocks in write(2)).
  int total = 0;
  const auto deadline = std::chrono::steady_clock::now() + std::chrono::seconds(10);
  for (int queued = 0; queued < (32 << 10) && std::chrono::steady_clock::now() < deadline;) {
    for (int i = 0; i < 20; ++i, ++total) log->log(call, grpc::Status::OK);
    std::this_thread::sleep_for(std::chrono::milliseconds(1));  // paces the filling only
    REQUIRE(::ioctl(reader, FIONREAD, &queued) == 0);
  }
  const std::uint64_t dropped_before = dropped.load();
  // Then 20,000 more (~3 MiB): the queue fills and every further line is dropped and counted.
  const auto started = std::chrono::steady_clock::now();
  for (int i = 0; i < 20000; ++i, ++total) log->log(call, grpc::Status::OK);
  const auto took = std::chrono::steady_clock::now() - started;
  INFO("dropped " << dropped_before << " while the pipe filled, then " << dropped.load() << " of "
                  << total << "; the last 20,000 lines took "
                  << std::chrono::duration_cast<std::chrono::milliseconds>(took).count() << "ms");
  CHECK(dropped.load() > dropped_before);

  // Now read: every line that was not dropped arrives whole once the log is closed.
  std::string received;
  std::thread drain([&] {
    char buffer[65536];
    for (ssize_t n; (n = ::read(reader, buffer, sizeof(buffer))) > 0;)
      received.append(buffer, static_cast<std::size_t>(n));
  });
  log.reset();  // writes what is queued, closes the FIFO: the reader sees its end
  drain.join();
  ::close(reader);
  std::filesystem::remove_all(dir_template);

  const std::string line =
      AccessLog("/dev/null", AccessLogFormat::kText, 3, nullptr).format(call, grpc::Status::OK) +
      "\n";
  CHECK(received.size() % line.size() == 0);
  CHECK(static_cast<std::uint64_t>(received.size() / line.size()) + dropped.load() ==
        static_cast<std::uint64_t>(total));
  for (std::size_t at = 0; at + line.size() <= received.size(); at += line.size()) {
    if (received.compare(at, line.size(), line) != 0) {
      FAIL("line at byte " << at << " is not whole: " << received.substr(at, line.size()));
    }
  }
}

}  // namespace
}  // namespace gryphon::internal
