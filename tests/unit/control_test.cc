// gryphon::internal::parse_fields: the key=value words of one control-channel line.
#include "control.h"

#include <catch2/catch.hpp>

#include <map>
#include <string>

namespace gryphon::internal {
namespace {

using Fields = std::map<std::string, std::string>;

TEST_CASE("a heartbeat line yields its key=value fields, without the message name") {
  CHECK(parse_fields("hb inflight=3 served=10 conns=2 rss=4096") ==
        Fields{{"inflight", "3"}, {"served", "10"}, {"conns", "2"}, {"rss", "4096"}});
}

TEST_CASE("the first word is the message name even when it looks like a field") {
  CHECK(parse_fields("a=1 b=2") == Fields{{"b", "2"}});
}

TEST_CASE("a line with only a message name, or nothing, has no fields") {
  CHECK(parse_fields("ready").empty());
  CHECK(parse_fields("").empty());
}

TEST_CASE("words without '=' are ignored") {
  CHECK(parse_fields("recycle max-requests served=7") == Fields{{"served", "7"}});
}

TEST_CASE("a value keeps everything after the first '=', and may be empty") {
  CHECK(parse_fields("hb reason=a=b empty=") == Fields{{"reason", "a=b"}, {"empty", ""}});
}

TEST_CASE("runs of spaces and tabs separate fields like one space") {
  CHECK(parse_fields("hb   inflight=1\tserved=2  ") == Fields{{"inflight", "1"}, {"served", "2"}});
}

TEST_CASE("a repeated key keeps its last value") {
  CHECK(parse_fields("hb served=1 served=2") == Fields{{"served", "2"}});
}

}  // namespace
}  // namespace gryphon::internal
