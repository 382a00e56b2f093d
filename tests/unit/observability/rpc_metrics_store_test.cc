// RpcMetricsStore: per-slot shared-memory counters summed into one Prometheus text, rows for
// methods the server does not have, and the hand-over of segments to a new master (USR2).
#include "observability/rpc_metrics_store.h"

#include <unistd.h>

#include <catch2/catch.hpp>
#include <regex>

using gryphon::RpcType;
using gryphon::internal::kUnknownMethodRows;
using gryphon::internal::MethodLabels;
using gryphon::internal::RpcMetricsStore;

namespace {

std::vector<MethodLabels> greeter_layout() {
  return {{"helloworld.Greeter", "SayHello", RpcType::kUnary},
          {"helloworld.Greeter", "Chat", RpcType::kBidiStreaming}};
}

// The value of one sample line of `text`, e.g. sample(text, "grpc_server_started_total{...}").
double sample(const std::string& text, const std::string& series) {
  const auto at = text.find("\n" + series + " ");
  if (at == std::string::npos) return -1;
  return std::stod(text.substr(at + series.size() + 2));
}

std::string handled(const std::string& code, const std::string& method, const std::string& service,
                    const std::string& type) {
  return "grpc_server_handled_total{grpc_code=\"" + code + "\",grpc_method=\"" + method +
         "\",grpc_service=\"" + service + "\",grpc_type=\"" + type + "\"}";
}

void finish_ok(RpcMetricsStore& store, int slot, const std::string& service,
               const std::string& method, int times = 1) {
  auto* counters = store.counters(slot, service, method);
  REQUIRE(counters != nullptr);
  for (int i = 0; i < times; ++i) {
    counters->started.fetch_add(1);
    store.record(*counters, grpc::StatusCode::OK, 1, 1, std::chrono::milliseconds(3));
  }
}

// The description a master hands on, with dup()ed descriptors so both stores can own theirs.
std::string handed_on(const RpcMetricsStore& store) {
  std::string text = store.describe_for_inheritance();
  std::string out;
  for (const std::regex entry(R"((-?\d+):(\d+))");;) {
    std::smatch m;
    if (!std::regex_search(text, m, entry)) break;
    out +=
        (out.empty() ? "" : ",") + m[1].str() + ":" + std::to_string(::dup(std::stoi(m[2].str())));
    text = m.suffix();
  }
  return out;
}

}  // namespace

TEST_CASE("counts from every slot are summed into go-grpc-prometheus series", "[metrics_store]") {
  RpcMetricsStore store(greeter_layout(), gryphon::internal::default_buckets());
  store.ensure_slot(0);
  store.ensure_slot(1);
  finish_ok(store, 0, "helloworld.Greeter", "SayHello", 3);
  finish_ok(store, 1, "helloworld.Greeter", "SayHello", 4);
  const std::string text = store.render();
  INFO(text);
  CHECK(sample(text, handled("OK", "SayHello", "helloworld.Greeter", "unary")) == 7);
  CHECK(sample(text, handled("OK", "Chat", "helloworld.Greeter", "bidi_stream")) ==
        0);  // always shown
  CHECK(sample(text,
               "grpc_server_handling_seconds_bucket{grpc_method=\"SayHello\",grpc_service="
               "\"helloworld.Greeter\","
               "grpc_type=\"unary\",le=\"0.005\"}") == 7);
  CHECK(store.counters(5, "helloworld.Greeter", "SayHello") == nullptr);  // no segment for slot 5
}

TEST_CASE("methods the server lacks get their own rows up to a bound, then share `unknown`",
          "[metrics_store]") {
  RpcMetricsStore store(greeter_layout(), gryphon::internal::default_buckets());
  store.ensure_slot(0);
  auto* nope = store.counters(0, "helloworld.Greeter", "Nope");
  CHECK(nope == store.counters(0, "helloworld.Greeter", "Nope"));  // the same row the second time
  CHECK(nope != store.counters(0, "helloworld.Greeter", "SayHello"));
  auto* overflow = store.counters(0, "not a name", "x");
  CHECK(overflow == store.counters(0, "svc", "bad/method"));
  CHECK(overflow == store.counters(0, std::string(101, 'a'), "M"));  // too long to be a label
  std::vector<void*> rows;
  for (std::size_t i = 0; i < kUnknownMethodRows + 5; ++i) {
    rows.push_back(store.counters(0, "scan.S" + std::to_string(i), "M"));
  }
  // Nope took one of the kUnknownMethodRows - 1 named rows.
  CHECK(rows[kUnknownMethodRows - 3] != overflow);
  CHECK(rows[kUnknownMethodRows - 2] == overflow);
  finish_ok(store, 0, "helloworld.Greeter", "Nope", 2);
  finish_ok(store, 0, "scan.S99", "M");
  const std::string text = store.render();
  INFO(text);
  CHECK(sample(text, handled("OK", "Nope", "helloworld.Greeter", "unknown")) == 2);
  CHECK(sample(text, handled("OK", "unknown", "unknown", "unknown")) == 1);
  CHECK(sample(text, handled("OK", "M", "scan.S0", "unknown")) == -1);  // unused rows are not shown
}

TEST_CASE(
    "a new master that adopts the segments keeps the totals and shares them with the old workers",
    "[metrics_store][usr2]") {
  RpcMetricsStore old_master(greeter_layout(), gryphon::internal::default_buckets());
  old_master.ensure_slot(0);
  old_master.ensure_slot(1);
  finish_ok(old_master, 0, "helloworld.Greeter", "SayHello", 10);
  finish_ok(old_master, 1, "helloworld.Greeter", "Nope", 2);

  RpcMetricsStore new_master(greeter_layout(), gryphon::internal::default_buckets());
  new_master.adopt(handed_on(old_master));
  new_master.ensure_slot(0);                                      // already there: no new segment
  finish_ok(new_master, 0, "helloworld.Greeter", "SayHello", 5);  // a new worker of slot 0
  finish_ok(old_master, 1, "helloworld.Greeter", "SayHello", 1);  // an old worker still draining
  for (const RpcMetricsStore* store : {&old_master, &new_master}) {
    const std::string text = store->render();
    INFO(text);
    CHECK(sample(text, handled("OK", "SayHello", "helloworld.Greeter", "unary")) == 16);
    CHECK(sample(text, handled("OK", "Nope", "helloworld.Greeter", "unknown")) == 2);
  }
  CHECK(new_master.fds().size() == 2);
}

TEST_CASE("segments of another layout are summed by name and handed on again",
          "[metrics_store][usr2]") {
  RpcMetricsStore old_master(greeter_layout(), gryphon::internal::default_buckets());
  old_master.ensure_slot(0);
  finish_ok(old_master, 0, "helloworld.Greeter", "SayHello", 4);
  finish_ok(old_master, 0, "helloworld.Greeter", "Chat", 1);

  // The new binary has one more method and no Chat.
  std::vector<MethodLabels> layout{{"helloworld.Greeter", "SayHello", RpcType::kUnary},
                                   {"helloworld.Greeter", "SayGoodbye", RpcType::kUnary}};
  RpcMetricsStore new_master(layout, gryphon::internal::default_buckets());
  new_master.adopt(handed_on(old_master));
  new_master.ensure_slot(0);  // a fresh segment in the new layout
  finish_ok(new_master, 0, "helloworld.Greeter", "SayHello", 3);
  finish_ok(new_master, 0, "helloworld.Greeter", "SayGoodbye", 1);
  std::string text = new_master.render();
  INFO(text);
  CHECK(sample(text, handled("OK", "SayHello", "helloworld.Greeter", "unary")) == 7);
  CHECK(sample(text, handled("OK", "SayGoodbye", "helloworld.Greeter", "unary")) == 1);
  CHECK(sample(text, handled("OK", "Chat", "helloworld.Greeter", "bidi_stream")) == 1);

  RpcMetricsStore third_master(layout, gryphon::internal::default_buckets());
  third_master.adopt(handed_on(new_master));
  CHECK(third_master.fds().size() == 2);
  text = third_master.render();
  CHECK(sample(text, handled("OK", "SayHello", "helloworld.Greeter", "unary")) == 7);
  CHECK(sample(text, handled("OK", "Chat", "helloworld.Greeter", "bidi_stream")) == 1);
}

TEST_CASE("a description that names no metrics segment is refused with the reason",
          "[metrics_store][usr2]") {
  RpcMetricsStore store(greeter_layout(), gryphon::internal::default_buckets());
  CHECK_THROWS_WITH(store.adopt("0:x"), Catch::Contains("cannot parse"));
  int pipe_fds[2];
  REQUIRE(::pipe(pipe_fds) == 0);
  ::close(pipe_fds[1]);
  CHECK_THROWS_WITH(store.adopt("0:" + std::to_string(pipe_fds[0])),
                    Catch::Contains("not a metrics segment"));
}
