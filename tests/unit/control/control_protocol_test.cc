// The master↔worker control protocol: every message survives encode → parse unchanged, and lines
// that are no message of the protocol are refused instead of half-read.
#include "control/control_protocol.h"

#include <catch2/catch.hpp>

namespace gryphon::internal::control {
namespace {

TEST_CASE("every command round-trips") {
  for (Command command : {Command::kNotServing, Command::kDrain, Command::kReopen}) {
    CHECK(parse_command(encode(command)) == command);
  }
  CHECK_FALSE(parse_command("drain now").has_value());
  CHECK_FALSE(parse_command("").has_value());
}

TEST_CASE("every worker message round-trips, the heartbeat with all of its statistics") {
  const WorkerStats stats{.in_flight = -1,
                          .served = 18446744073709551615ULL,
                          .rejected = 7,
                          .connections = 3,
                          .rss = 14491648,
                          .write_timeouts = 2};
  const WorkerMessage messages[] = {Ready{},
                                    Heartbeat{stats},
                                    Draining{},
                                    Recycle{RecycleReason::kRequests},
                                    Recycle{RecycleReason::kMemory},
                                    Fatal{"port 50051 is in use"}};
  for (const WorkerMessage& message : messages) {
    INFO(encode(message));
    const auto parsed = parse_worker_message(encode(message));
    REQUIRE(parsed.has_value());
    CHECK(*parsed == message);
  }
}

TEST_CASE("a fatal message stays one line") {
  const std::string line = encode(WorkerMessage{Fatal{"two\nlines\r"}});
  CHECK(line.find('\n') == std::string::npos);
  CHECK(std::get<Fatal>(*parse_worker_message(line)).message == "two lines ");
  CHECK(std::get<Fatal>(*parse_worker_message("fatal")).message == "unknown error");
}

TEST_CASE("lines that are no message are refused") {
  for (const char* line : {"", "hello", "ready now", "hb served=x", "hb served", "hb bogus=1",
                           "recycle", "recycle because", "hb served=1 inflight=2x"}) {
    INFO(line);
    CHECK_FALSE(parse_worker_message(line).has_value());
  }
}

TEST_CASE("the wire format is the documented text") {
  CHECK(encode(WorkerMessage{Heartbeat{{.in_flight = 2,
                                        .served = 10,
                                        .rejected = 1,
                                        .connections = 4,
                                        .rss = 5,
                                        .write_timeouts = 3}}}) ==
        "hb inflight=2 served=10 conns=4 rss=5 rejected=1 wtimeouts=3");
  CHECK(encode(WorkerMessage{Recycle{RecycleReason::kMemory}}) == "recycle memory");
  CHECK(encode(Command::kNotServing) == "notserving");
}

}  // namespace
}  // namespace gryphon::internal::control
