// The propagation drill: A (this test, a gRPC C++ client) calls B (a drill server's
// AsyncDrill/Relay), whose async handler waits, then calls C (another drill server's
// AsyncDrill/Probe) through gryphon's client (gryphon/client.h). C answers what the call carried:
// the deadline left, x-request-id, traceparent and tracestate. Both servers run the transport
// under test; B's downstream call rides gRPC C++'s client either way.
#include <grpcpp/grpcpp.h>

#include <catch2/catch.hpp>
#include <chrono>
#include <iostream>
#include <regex>
#include <sstream>
#include <string>
#include <thread>

#include "async_server.h"
#include "drill.grpc.pb.h"
#include "harness.h"
#include "test_certs.h"

using namespace gryphon::test;
using std::chrono::milliseconds;

namespace {

constexpr const char* kTrace = "4bf92f3577b34da6a3ce929d0e0e4736";
constexpr const char* kSpan = "00f067aa0ba902b7";

struct Relayed {
  grpc::Status status;
  ProbeReply reply;
};

Relayed relay(AsyncServer& b, const AsyncServer& c, int wait_millis, milliseconds deadline,
              const std::string& request_id, const std::string& ca_file = "", int hold_millis = 0,
              const std::string& target = "") {
  auto stub = AsyncDrill::NewStub(b.channel);
  grpc::ClientContext context;
  context.set_deadline(std::chrono::system_clock::now() + deadline);
  context.AddMetadata("x-request-id", request_id);
  context.AddMetadata("traceparent", std::string("00-") + kTrace + "-" + kSpan + "-01");
  context.AddMetadata("tracestate", "drill=1");
  RelayRequest request;
  request.set_target(target.empty() ? c.process.target() : target);
  request.set_wait_millis(wait_millis);
  request.set_hold_millis(hold_millis);
  request.set_ca_file(ca_file);
  Relayed relayed;
  relayed.status = stub->Relay(&context, request, &relayed.reply);
  return relayed;
}

int probes_logged(const AsyncServer& server) {
  std::istringstream text(read_file(server.access_log));
  int count = 0;
  for (std::string line; std::getline(text, line);)
    count += access_log_fields(line, "json")["grpc.method"] == "Probe";
  return count;
}

}  // namespace

TEST_CASE("B waits 60 ms of A's 100: C sees the rest of the deadline, A's request id and trace",
          "[async][propagation]") {
  AsyncServer c, b;
  const Relayed relayed = relay(b, c, 60, milliseconds(100), "drill-request-1");
  INFO(relayed.status.error_message() << "\nB's log:\n" << b.process.log());
  REQUIRE(relayed.status.ok());
  const ProbeReply& seen = relayed.reply;
  INFO("C saw: deadline " << seen.deadline_micros() << " us, request id " << seen.request_id()
                          << ", traceparent " << seen.traceparent() << ", tracestate "
                          << seen.tracestate());
  CHECK(seen.deadline_micros() > 0);
  CHECK(seen.deadline_micros() <= 40000);
  CHECK(seen.request_id() == "drill-request-1");
  std::smatch parts;
  const std::string traceparent = seen.traceparent();
  REQUIRE(std::regex_match(traceparent, parts,
                           std::regex("00-([0-9a-f]{32})-([0-9a-f]{16})-([0-9a-f]{2})")));
  CHECK(parts[1] == kTrace);  // A's trace
  CHECK(parts[2] != kSpan);   // B's span for this call, not A's
  CHECK(parts[2] != "0000000000000000");
  CHECK(parts[3] == "01");
  CHECK(seen.tracestate() == "drill=1");
  CHECK(seen.trace_id() == kTrace);  // B's Context::trace_id()
  CHECK(logged_call(b.access_log, "Relay")["trace_id"] == kTrace);
  // Each downstream call has a span of its own.
  const Relayed again = relay(b, c, 0, milliseconds(2000), "drill-request-2");
  REQUIRE(again.status.ok());
  CHECK(again.reply.traceparent().substr(0, 36) == traceparent.substr(0, 36));
  CHECK(again.reply.traceparent().substr(36, 16) != parts[2].str());
}

TEST_CASE("B waits 150 ms of A's 100: C never sees the call", "[async][propagation]") {
  AsyncServer c, b;
  const Relayed late = relay(b, c, 150, milliseconds(100), "drill-late");
  CHECK(late.status.error_code() == grpc::StatusCode::DEADLINE_EXCEEDED);
  // A call after it does reach C: C's log then holds that one alone.
  const Relayed next = relay(b, c, 0, milliseconds(2000), "drill-next");
  REQUIRE(next.status.ok());
  CHECK(next.reply.request_id() == "drill-next");
  REQUIRE(wait_until([&] { return probes_logged(c) >= 1; }, milliseconds(5000)));
  CHECK(probes_logged(c) == 1);
  CHECK(logged_call(c.access_log, "Probe")["grpc.request_id"] == "drill-next");
}

TEST_CASE("cancelling A's call cancels B's pending call to C at once", "[async][propagation]") {
  AsyncServer c, b;
  auto stub = AsyncDrill::NewStub(b.channel);
  grpc::ClientContext context;
  context.set_deadline(std::chrono::system_clock::now() + std::chrono::seconds(20));
  RelayRequest request;
  request.set_target(c.process.target());
  request.set_hold_millis(10000);
  ProbeReply reply;
  grpc::Status status;
  std::thread call([&] { status = stub->Relay(&context, request, &reply); });
  REQUIRE(wait_until([&] { return c.process.log().find("Probe holding") != std::string::npos; },
                     milliseconds(5000)));
  const auto cancelled_at = std::chrono::duration_cast<std::chrono::microseconds>(
                                std::chrono::system_clock::now().time_since_epoch())
                                .count();
  context.TryCancel();
  call.join();
  CHECK(status.error_code() == grpc::StatusCode::CANCELLED);
  std::smatch seen;
  const std::regex line("Probe cancelled at ([0-9]+)");
  REQUIRE(wait_until(
      [&] {
        const std::string log = c.process.log();
        return std::regex_search(log, seen, line);
      },
      milliseconds(5000)));
  const std::string log = c.process.log();
  REQUIRE(std::regex_search(log, seen, line));
  const long long took_us = std::stoll(seen[1].str()) - cancelled_at;
  std::cout << "propagation: C's call was cancelled " << took_us << " us after A's\n";
#if defined(__SANITIZE_ADDRESS__)
  CHECK(took_us < 50000);  // the sanitizer build runs several times slower
#else
  CHECK(took_us < 10000);
#endif
}

TEST_CASE("B calls C over TLS, carrying the same", "[async][propagation]") {
  TempDir certs;
  make_ca(certs, "ca");
  make_cert(certs, "ca", "server");
  AsyncServer c({"--tls-cert", certs.file("server.pem"), "--tls-key", certs.file("server.key")});
  AsyncServer b;
  const Relayed relayed = relay(b, c, 0, milliseconds(5000), "drill-tls", certs.file("ca.pem"));
  INFO(relayed.status.error_message());
  REQUIRE(relayed.status.ok());
  CHECK(relayed.reply.request_id() == "drill-tls");
  CHECK(relayed.reply.traceparent().substr(0, 35) == std::string("00-") + kTrace);
  CHECK(relayed.reply.deadline_micros() > 4000000);
  // And a plaintext call to the TLS port fails cleanly, within its deadline.
  const Relayed plain = relay(b, c, 0, milliseconds(2000), "drill-plain");
  CHECK(plain.status.error_code() == grpc::StatusCode::UNAVAILABLE);
}

TEST_CASE("a downstream server that is down or slow fails the call within its deadline",
          "[async][propagation]") {
  AsyncServer c, b;
  // Down: nothing listens on the port.
  auto started = std::chrono::steady_clock::now();
  const Relayed down = relay(b, c, 0, milliseconds(3000), "drill-down", "", 0,
                             "127.0.0.1:" + std::to_string(free_port()));
  const auto down_ms =
      std::chrono::duration_cast<milliseconds>(std::chrono::steady_clock::now() - started);
  INFO(down.status.error_message());
  CHECK(down.status.error_code() == grpc::StatusCode::UNAVAILABLE);
  CHECK(down_ms < milliseconds(3000));
  // Slow: C holds the call 5 s; A's 300 ms deadline, carried to C, ends it.
  started = std::chrono::steady_clock::now();
  const Relayed slow = relay(b, c, 0, milliseconds(300), "drill-slow", "", 5000);
  const auto slow_ms =
      std::chrono::duration_cast<milliseconds>(std::chrono::steady_clock::now() - started);
  CHECK(slow.status.error_code() == grpc::StatusCode::DEADLINE_EXCEEDED);
  CHECK(slow_ms < milliseconds(1000));
  // C's own deadline (the one carried) and B's cancel when B's deadline passes come at the same
  // moment: either ends C's call, and at once.
  auto logged = logged_call(c.access_log, "Probe");
  CHECK((logged["grpc.code"] == "DeadlineExceeded" || logged["grpc.code"] == "Canceled"));
  CHECK(std::stod(logged["grpc.time_ms"]) < 1000);
}
