// W3C traceparent parsing and making (dispatch/trace_context.h), and Context::trace_id(): the
// client's trace, or one started for the first downstream call.
#include "dispatch/trace_context.h"

#include <catch2/catch.hpp>
#include <set>
#include <string>

#include "gryphon/testing.h"

namespace gryphon::internal {
namespace {

constexpr const char* kValid = "00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01";

TEST_CASE("a version 00 traceparent parses and writes back the same") {
  const auto parent = parse_traceparent(kValid);
  REQUIRE(parent);
  CHECK(parent->trace_id == "4bf92f3577b34da6a3ce929d0e0e4736");
  CHECK(parent->span_id == "00f067aa0ba902b7");
  CHECK(parent->flags == "01");
  CHECK(format_traceparent(*parent) == kValid);
}

TEST_CASE("malformed traceparents are refused") {
  for (const std::string bad : {
           "",
           "00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7",       // no flags
           "00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01-x",  // 00 has no more fields
           "ff-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01",    // version ff
           "00-00000000000000000000000000000000-00f067aa0ba902b7-01",    // zero trace id
           "00-4bf92f3577b34da6a3ce929d0e0e4736-0000000000000000-01",    // zero span id
           "00-4BF92F3577B34DA6A3CE929D0E0E4736-00f067aa0ba902b7-01",    // upper case
           "00_4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01",    // separator
           "00-4bf92f3577b34da6a3ce929d0e0e473g-00f067aa0ba902b7-01",    // not hex
       }) {
    INFO(bad);
    CHECK_FALSE(parse_traceparent(bad));
  }
  // A later version may add fields after a dash: the first four are read.
  CHECK(parse_traceparent(std::string("01") + (kValid + 2) + "-extra"));
}

TEST_CASE("new ids are hex of the right length and differ") {
  std::set<std::string> seen;
  for (int i = 0; i < 100; ++i) {
    const std::string trace = new_trace_id(), span = new_span_id();
    CHECK(trace.size() == 32);
    CHECK(span.size() == 16);
    CHECK(parse_traceparent(format_traceparent({trace, span, "01"})));
    seen.insert(trace);
  }
  CHECK(seen.size() == 100);
}

TEST_CASE("a call's trace id is its client's, or one started for a downstream call") {
  testing::TestCall traced;
  traced.metadata.emplace("traceparent", kValid);
  CHECK(traced.context().trace_id() == "4bf92f3577b34da6a3ce929d0e0e4736");
  CHECK(traced.context().trace_flags() == "01");
  CHECK(traced.context().trace_id_for_downstream() == "4bf92f3577b34da6a3ce929d0e0e4736");

  testing::TestCall untraced;
  untraced.metadata.emplace("traceparent", "garbage");
  CHECK(untraced.context().trace_id().empty());
  const std::string started = untraced.context().trace_id_for_downstream();
  CHECK(started.size() == 32);
  CHECK(untraced.context().trace_id() == started);  // the same for every later downstream call
}

}  // namespace
}  // namespace gryphon::internal
