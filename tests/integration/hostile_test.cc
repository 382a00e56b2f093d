// Hostile input: broken and malicious clients against a running two-worker drill server.
//
// Each case does what a well-behaved gRPC client never does — garbage on the port, HTTP/1.1, a
// cut-off preface, malformed gRPC framing, bodies that are not protobuf, oversized messages and
// headers, thousands of idle sockets, more RPCs than the server admits, handlers that throw or
// crash — prints what the server answered (the closing note lists these lines), and then
// checks that every worker still serves over fresh connections, that the master still has the
// same workers and that none was replaced (unless the case kills one on purpose). Waits are on
// conditions with deadlines; loopback only.
#include <sys/resource.h>

#include <catch2/catch.hpp>
#include <algorithm>
#include <atomic>
#include <chrono>
#include <cstdlib>
#include <future>
#include <iostream>
#include <memory>
#include <optional>
#include <random>
#include <set>

#include <grpcpp/generic/generic_stub.h>
#include <grpcpp/grpcpp.h>

#include "drill.grpc.pb.h"
#include "greeter.grpc.pb.h"
#include "harness.h"
#include "grpc_status_name.h"
#include "load.h"
#include "raw_http2.h"

using namespace gryphon::test;
namespace h2 = gryphon::test::http2;
using Clock = std::chrono::steady_clock;
using std::chrono::milliseconds;
using std::chrono::seconds;

namespace {

long ms_since(Clock::time_point since) {
  return std::chrono::duration_cast<milliseconds>(Clock::now() - since).count();
}

std::string describe(const grpc::Status& status) {
  return status.ok()
             ? "OK"
             : grpc_status_name(status.error_code()) + " \"" + status.error_message() + "\"";
}

void report(const std::string& hostile_case, const std::string& answer) {
  std::cout << "hostile case: " << hostile_case << "\n    server answered: " << answer << "\n"
            << std::flush;
}

// A two-worker drill server on a loopback port it picks. Connections are not rotated within a
// case (max-connection-age 60s), so a channel stays on the worker that accepted it.
class Instance {
 public:
  explicit Instance(const std::vector<std::string>& extra)
      : process_(binary_path("GRYPHON_DRILL_SERVER"), args(extra)) {
    process_.wait_ready();
    REQUIRE(wait_until([&] { return children_of(process_.pid()).size() == 2; }, seconds(10)));
    const auto children = children_of(process_.pid());
    workers_ = std::set<pid_t>(children.begin(), children.end());
  }

  const std::string& target() const { return process_.target(); }
  pid_t pid() const { return process_.pid(); }
  const std::set<pid_t>& workers() const { return workers_; }
  void set_workers(std::set<pid_t> workers) { workers_ = std::move(workers); }
  std::string log() const { return process_.log(); }
  std::map<std::string, double> scrape() const {
    return parse_metrics(http_get(process_.ready().metrics, "/metrics"));
  }

  // The sum of every sample whose key starts with `prefix`, e.g. "gryphon_connections{".
  double sum(const std::string& prefix) const {
    double total = 0;
    const auto metrics = scrape();
    require_family(metrics, prefix.substr(0, prefix.find('{')));
    for (const auto& [key, value] : metrics) total += key.rfind(prefix, 0) == 0 ? value : 0;
    return total;
  }

 private:
  static std::vector<std::string> args(const std::vector<std::string>& extra) {
    std::vector<std::string> all{
        "--listen",           "127.0.0.1:0", "--metrics-address",    "127.0.0.1:0",
        "--workers",          "2",           "--max-connection-age", "60s",
        "--shutdown-timeout", "5s"};
    all.insert(all.end(), extra.begin(), extra.end());
    return all;
  }

  ServerProcess process_;
  std::set<pid_t> workers_;
};

// A channel of its own: a distinct channel argument keeps gRPC from sharing a subchannel.
std::shared_ptr<grpc::Channel> fresh_channel(const std::string& target) {
  static std::atomic<int> counter{0};
  grpc::ChannelArguments args;
  args.SetInt("gryphon.test.unique", ++counter);
  return grpc::CreateCustomChannel(target, grpc::InsecureChannelCredentials(), args);
}

struct SleepResult {
  grpc::Status status;
  pid_t pid = 0;
  int slot = -1;
  long ms = 0;
  Clock::time_point ended;
};

SleepResult sleep_on(const std::shared_ptr<grpc::Channel>& channel, int millis,
                     milliseconds deadline) {
  auto stub = gryphon::test::Drill::NewStub(channel);
  grpc::ClientContext context;
  context.set_deadline(std::chrono::system_clock::now() + deadline);
  gryphon::test::SleepRequest request;
  request.set_millis(millis);
  gryphon::test::SleepReply reply;
  const auto start = Clock::now();
  SleepResult result;
  result.status = stub->Sleep(&context, request, &reply);
  result.ms = ms_since(start);
  result.ended = Clock::now();
  result.pid = reply.pid();
  result.slot = reply.slot();
  return result;
}

grpc::Status say_hello(const std::shared_ptr<grpc::Channel>& channel, const std::string& name,
                       const std::vector<std::pair<std::string, std::string>>& metadata = {},
                       std::string* message = nullptr) {
  auto stub = helloworld::Greeter::NewStub(channel);
  grpc::ClientContext context;
  context.set_deadline(std::chrono::system_clock::now() + seconds(5));
  for (const auto& [key, value] : metadata) context.AddMetadata(key, value);
  helloworld::HelloRequest request;
  request.set_name(name);
  helloworld::HelloReply reply;
  const grpc::Status status = stub->SayHello(&context, request, &reply);
  if (message != nullptr) *message = reply.message();
  return status;
}

// A unary call with an arbitrary request body, through grpc::GenericStub.
grpc::Status raw_unary(const std::shared_ptr<grpc::Channel>& channel, const std::string& method,
                       const std::string& body) {
  grpc::GenericStub stub(channel);
  grpc::ClientContext context;
  context.set_deadline(std::chrono::system_clock::now() + seconds(5));
  grpc::Slice slice(body.data(), body.size());
  const grpc::ByteBuffer request(&slice, 1);
  grpc::ByteBuffer response;
  std::promise<grpc::Status> done;
  stub.UnaryCall(&context, method, grpc::StubOptions(), &request, &response,
                 [&done](grpc::Status status) { done.set_value(std::move(status)); });
  return done.get_future().get();
}

// After a hostile case: the master has exactly `instance.workers()`; each of them answers over
// fresh connections with no failure; the master replaced no worker beyond `restarts`; and no
// RPC is left counted in flight.
void check_workers_serve(const Instance& instance, const std::string& after, double restarts = 0) {
  INFO("after: " << after);
  const auto children = children_of(instance.pid());
  CHECK(std::set<pid_t>(children.begin(), children.end()) == instance.workers());
  std::set<pid_t> answered;
  std::vector<std::string> failures;
  std::vector<std::shared_ptr<grpc::Channel>>
      held;  // kept open: later connections land elsewhere too
  for (int i = 0; i < 200 && answered.size() < instance.workers().size(); ++i) {
    held.push_back(fresh_channel(instance.target()));
    const SleepResult r = sleep_on(held.back(), 0, seconds(3));
    if (r.status.ok()) {
      answered.insert(r.pid);
    } else {
      failures.push_back(describe(r.status));
    }
    if (held.size() >= 8) held.erase(held.begin());
  }
  std::string message;
  const grpc::Status hello = say_hello(fresh_channel(instance.target()), "after", {}, &message);
  INFO("failures: " << failures.size() << (failures.empty() ? "" : " first: " + failures.front()));
  CHECK(failures.empty());
  CHECK(answered == instance.workers());
  CHECK(hello.ok());
  CHECK(message == "Hello after");
  CHECK(instance.sum("gryphon_worker_restarts_total") == restarts);
  // Nothing stays admitted: every RPC the hostile input started has given its slot back.
  CHECK(wait_until([&] { return instance.sum("gryphon_in_flight_rpcs{") == 0; }, seconds(5),
                   milliseconds(100)));
}

// Raises this process's open-file limit to at least `wanted` (up to the hard limit).
void raise_open_files(rlim_t wanted) {
  rlimit limit{};
  REQUIRE(::getrlimit(RLIMIT_NOFILE, &limit) == 0);
  INFO("the hard open-file limit " << limit.rlim_max << " is below " << wanted);
  REQUIRE(limit.rlim_max >= wanted);
  if (limit.rlim_cur < wanted) {
    limit.rlim_cur = wanted;
    REQUIRE(::setrlimit(RLIMIT_NOFILE, &limit) == 0);
  }
}

const std::string kSayHello = "/helloworld.Greeter/SayHello";
const std::string kHelloRaw("\x0a\x03raw", 5);  // HelloRequest{name: "raw"}

const std::string kSleep = "/gryphon.test.Drill/Sleep";
const std::string kSleep1s("\x08\xe8\x07", 3);  // SleepRequest{millis: 1000}

// HEADERS and DATA (with END_STREAM) of one unary request on `stream`.
std::string request_frames(const std::string& path, const std::string& data,
                           const std::vector<h2::Header>& extra = {}, std::uint32_t stream = 1) {
  return h2::frame(h2::kHeaders, h2::kEndHeaders, stream,
                   h2::header_block(h2::grpc_request_headers(path, extra))) +
         h2::frame(h2::kData, h2::kEndStream, stream, data);
}

// The client preface, an empty SETTINGS and one request on stream 1, all sent at once: before the
// server's SETTINGS arrive, so they are never acked.
std::string raw_request(const std::string& path, const std::string& data,
                        const std::vector<h2::Header>& extra = {}) {
  return std::string(h2::kPreface) + h2::frame(h2::kSettings, 0, 0, "") +
         request_frames(path, data, extra);
}

}  // namespace

TEST_CASE("garbage, HTTP/1.1 and a cut-off preface get the connection closed; the workers serve on",
          "[hostile][wire]") {
  Instance instance(
      {});  // handshake-timeout stays at its 10s default: a close within 3s is the input's doing
  std::mt19937 random(7);
  std::string garbage(4096, '\0');
  for (char& c : garbage) c = static_cast<char>(random());
  struct Case {
    std::string name;
    std::string bytes;
    bool half_close;
  };
  const std::vector<Case> cases{
      {"4 KiB of random bytes", garbage, false},
      {"an HTTP/1.1 GET", "GET / HTTP/1.1\r\nHost: localhost\r\nConnection: keep-alive\r\n\r\n",
       false},
      {"an HTTP/1.1 POST asking for an h2c upgrade",
       "POST /helloworld.Greeter/SayHello HTTP/1.1\r\nHost: localhost\r\nConnection: Upgrade, "
       "HTTP2-Settings\r\n"
       "Upgrade: h2c\r\nHTTP2-Settings: AAMAAABkAAQAAP__\r\nContent-Length: 5\r\n\r\n" +
           kHelloRaw,
       false},
      {"half of the HTTP/2 preface, then end of input", std::string(h2::kPreface.substr(0, 12)),
       true},
      {"the HTTP/2 preface with one byte wrong", "PRI * HTTP/2.0\r\n\r\nSM\r\n\r\r", false},
  };
  for (const auto& c : cases) {
    h2::RawConnection connection(instance.target());
    REQUIRE(connection.connected());
    connection.send(c.bytes);
    if (c.half_close) connection.shutdown_write();
    const h2::Answer answer = connection.converse(seconds(3), /*stop_at_goaway=*/false);
    report(c.name, answer.summary());
    INFO(c.name << ": " << answer.summary());
    CHECK(answer.closed);
    CHECK(answer.headers.empty());  // no HTTP/2 response of any kind
    CHECK_FALSE(answer.goaway.has_value());
    check_workers_serve(instance, c.name);
  }
}

TEST_CASE(
    "a valid HTTP/2 stream with malformed gRPC framing fails that stream; the workers serve on",
    "[hostile][wire]") {
  Instance instance({});
  {  // The control: the same hand-made request, well formed, is answered OK.
    h2::RawConnection connection(instance.target());
    REQUIRE(connection.send(raw_request(kSayHello, h2::grpc_message(kHelloRaw))));
    const h2::Answer answer = connection.converse(seconds(5));
    report("hand-made well-formed request (control)", answer.summary());
    INFO(answer.summary());
    REQUIRE(answer.stream_ended());
    REQUIRE(answer.header("grpc-status") == "0");
  }
  // Each transport's documented answer, pinned: a grpc-status on stream 1, a RST_STREAM code on
  // it with no status, or a GOAWAY code. Where they differ gRPC 1.51 is the lenient one.
  struct Expect {
    std::string status;
    std::optional<std::uint32_t> reset = std::nullopt;
    std::optional<std::uint32_t> goaway = std::nullopt;
  };
  struct Case {
    std::string name;
    std::string bytes;
    Expect native, grpc;
  };
  const Expect internal{"13"};
  const std::vector<Case> cases{
      {"gRPC length prefix claims 100 bytes, 5 follow, then END_STREAM",
       raw_request(kSayHello, h2::grpc_message_claiming(kHelloRaw, 100)), internal, internal},
      // native: over --max-receive-message-size from the prefix alone; gRPC: unparseable.
      {"gRPC length prefix claims 4 GiB - 1, 5 bytes follow",
       raw_request(kSayHello, h2::grpc_message_claiming(kHelloRaw, 0xffffffffu)),
       {"8"},
       internal},
      {"half a gRPC message prefix (3 bytes) then END_STREAM",
       raw_request(kSayHello, std::string("\0\0\0", 3)), internal, internal},
      // The gRPC spec asks for INTERNAL here; gRPC 1.51 ignores the compressed flag when no (or an
      // unknown) grpc-encoding came with it and reads the bytes as they are.
      {"gRPC compressed flag set without grpc-encoding",
       raw_request(kSayHello, h2::grpc_message(kHelloRaw, true)),
       internal,
       {"0"}},
      {"gRPC compressed flag with grpc-encoding naming an unknown algorithm",
       raw_request(kSayHello, h2::grpc_message(kHelloRaw, true), {{"grpc-encoding", "snappy-ish"}}),
       internal,
       {"0"}},
      {"gRPC compressed flag with grpc-encoding: gzip over bytes that are not gzip",
       raw_request(kSayHello, h2::grpc_message(kHelloRaw, true), {{"grpc-encoding", "gzip"}}),
       internal,
       {"", 0x2}},
      // RFC 9113 §4.3: a header block that cannot be decoded is a connection error (native);
      // gRPC 1.51 fails the stream UNAVAILABLE.
      {"a HEADERS block HPACK cannot decode (index 2^28+)",
       std::string(h2::kPreface) + h2::frame(h2::kSettings, 0, 0, "") +
           h2::frame(h2::kHeaders, h2::kEndHeaders | h2::kEndStream, 1,
                     std::string("\xff\xff\xff\xff\x0f", 5)),
       {"", std::nullopt, 0x9},
       {"14"}},
      // nghttp2 resets a request that breaks RFC 9113 §8.3.1 (PROTOCOL_ERROR); gRPC 1.51 answers
      // UNKNOWN ("Missing :te header").
      {"a request without :path, content-type or te",
       std::string(h2::kPreface) + h2::frame(h2::kSettings, 0, 0, "") +
           h2::frame(h2::kHeaders, h2::kEndHeaders, 1,
                     h2::header_block({{":method", "POST"}, {":scheme", "http"}})) +
           h2::frame(h2::kData, h2::kEndStream, 1, h2::grpc_message(kHelloRaw)),
       {"", 0x1},
       {"2"}},
      {"a request for a method nobody serves",
       raw_request("/nobody.Home/Nothing", h2::grpc_message(kHelloRaw)),
       {"12"},
       {"12"}},
  };
  for (const auto& c : cases) {
    h2::RawConnection connection(instance.target());
    REQUIRE(connection.connected());
    connection.send(c.bytes);
    const h2::Answer answer = connection.converse(seconds(5));
    report(c.name, answer.summary());
    INFO(c.name << " (" << test_transport() << "): " << answer.summary());
    const Expect& expect = test_transport() == "native" ? c.native : c.grpc;
    if (expect.goaway) {
      REQUIRE(answer.goaway.has_value());
      CHECK(*answer.goaway == *expect.goaway);
    } else {
      CHECK(answer.stream_ended());
      CHECK(answer.header("grpc-status") == expect.status);
      if (expect.reset) {
        REQUIRE(answer.resets.count(1) == 1);
        CHECK(answer.resets.at(1) == *expect.reset);
      }
    }
    check_workers_serve(instance, c.name);
  }
}

TEST_CASE("a request body that is not protobuf gets INVALID_ARGUMENT, not a crash",
          "[hostile][protobuf]") {
  Instance instance({});
  const std::string truncated(
      "\x0a\x05"
      "ab",
      4);  // 5 bytes claimed, 2 follow
  const std::string bad_tag("\xff\xff\xff\xff\xff\xff\xff\xff\xff\xff\x01",
                            11);             // an 11-byte varint
  const std::string wire_type_7("\x0f", 1);  // no such wire type
  struct Case {
    std::string name;
    std::string method;
    std::string body;
  };
  const std::vector<Case> cases{
      {"SayHello (inline handler): a field claims 5 bytes, 2 follow", kSayHello, truncated},
      {"SayHello (inline handler): an 11-byte varint tag", kSayHello, bad_tag},
      {"SayHello (inline handler): wire type 7", kSayHello, wire_type_7},
      {"Drill/Sleep (handler pool): a field claims 5 bytes, 2 follow", kSleep, truncated},
      {"Drill/Sleep (handler pool): an 11-byte varint tag", kSleep, bad_tag},
  };
  for (const auto& c : cases) {
    const grpc::Status status = raw_unary(fresh_channel(instance.target()), c.method, c.body);
    report("malformed protobuf: " + c.name, describe(status));
    CHECK(status.error_code() == grpc::StatusCode::INVALID_ARGUMENT);
    check_workers_serve(instance, c.name);
  }
}

TEST_CASE(
    "messages over the size limits get RESOURCE_EXHAUSTED; metadata over the limit fails the call",
    "[hostile][limits]") {
  Instance instance({"--max-receive-message-size", "64KiB", "--max-send-message-size", "32KiB",
                     "--max-metadata-size", "4KiB"});
  const auto channel = fresh_channel(instance.target());
  std::string message;
  const grpc::Status small = say_hello(channel, std::string(16 << 10, 'a'), {}, &message);
  report("SayHello with a 16 KiB request (under every limit)", describe(small));
  REQUIRE(small.ok());
  CHECK(message.size() == (16 << 10) + 6);

  const grpc::Status too_big =
      say_hello(fresh_channel(instance.target()), std::string(100 << 10, 'a'));
  report("SayHello with a 100 KiB request (receive limit 64 KiB)", describe(too_big));
  CHECK(too_big.error_code() == grpc::StatusCode::RESOURCE_EXHAUSTED);
  check_workers_serve(instance, "a request over the receive limit");

  const grpc::Status reply_too_big =
      say_hello(fresh_channel(instance.target()), std::string(40 << 10, 'a'));
  report("SayHello whose 40 KiB reply is over the send limit (32 KiB)", describe(reply_too_big));
  CHECK(reply_too_big.error_code() == grpc::StatusCode::RESOURCE_EXHAUSTED);
  check_workers_serve(instance, "a reply over the send limit");

  const std::vector<std::pair<std::string, std::string>> kilobyte{
      {"x-hostile", std::string(1024, 'm')}};
  const std::vector<std::pair<std::string, std::string>> eight_kilobytes{
      {"x-hostile", std::string(8192, 'm')}};
  const grpc::Status small_metadata = say_hello(fresh_channel(instance.target()), "m", kilobyte);
  report("SayHello with 1 KiB of metadata (limit 4 KiB)", describe(small_metadata));
  CHECK(small_metadata.ok());

  const grpc::Status big_metadata =
      say_hello(fresh_channel(instance.target()), "m", eight_kilobytes);
  report("SayHello with 8 KiB of metadata from a gRPC client (limit 4 KiB)",
         describe(big_metadata));
  CHECK(big_metadata.error_code() == grpc::StatusCode::RESOURCE_EXHAUSTED);  // the server's refusal
  check_workers_serve(instance, "metadata over the limit from a gRPC client");

  // The same from a raw client that acks the server's SETTINGS before sending its request.
  {
    h2::RawConnection connection(instance.target());
    REQUIRE(connection.handshake(seconds(5)));
    REQUIRE(
        connection.send(request_frames(kSayHello, h2::grpc_message(kHelloRaw), eight_kilobytes)));
    const h2::Answer answer = connection.converse(seconds(5));
    report(
        "raw HTTP/2 request with an 8 KiB header after acking the server's SETTINGS (limit 4 KiB)",
        answer.summary());
    INFO(answer.summary());
    CHECK(answer.stream_ended());
    CHECK(answer.header("grpc-status") == "8");
    check_workers_serve(instance, "metadata over the limit from a raw client that acked SETTINGS");
  }
  // A raw client that sends its request before acking SETTINGS: gRPC 1.51 applies the metadata
  // limit only once the client has acked it (until then gRPC's default for
  // SETTINGS_MAX_HEADER_LIST_SIZE, 16 MiB, holds), so this request is served. Recorded, not
  // endorsed: the worker must answer and live.
  {
    h2::RawConnection connection(instance.target());
    REQUIRE(connection.send(raw_request(kSayHello, h2::grpc_message(kHelloRaw), eight_kilobytes)));
    const h2::Answer answer = connection.converse(seconds(5));
    report(
        "raw HTTP/2 request with an 8 KiB header sent before acking the server's SETTINGS (limit 4 "
        "KiB)",
        answer.summary());
    INFO(answer.summary());
    CHECK(answer.stream_ended());
    CHECK_FALSE(answer.header("grpc-status").empty());
    check_workers_serve(instance,
                        "metadata over the limit from a raw client that never acked SETTINGS");
  }
}

TEST_CASE(
    "streams over max-concurrent-streams end the connection; before acking SETTINGS, "
    "max-concurrent-rpcs holds",
    "[hostile][streams]") {
  Instance instance({"--max-concurrent-streams", "2", "--max-concurrent-rpcs", "3"});
  const std::set<std::uint32_t> streams{1, 3, 5, 7};
  std::string requests;
  for (std::uint32_t stream : streams)
    requests += request_frames(kSleep, h2::grpc_message(kSleep1s), {}, stream);
  auto outcome = [&](const h2::Answer& answer) {
    std::string out;
    for (std::uint32_t stream : streams) {
      out += "stream " + std::to_string(stream) + ": ";
      if (!answer.header("grpc-status", stream).empty()) {
        out += "grpc-status " + answer.header("grpc-status", stream) + " " +
               answer.header("grpc-message", stream);
      } else if (answer.resets.count(stream)) {
        out += "RST_STREAM " + h2::error_code_name(answer.resets.at(stream));
      } else {
        out += "no answer";
      }
      out += "; ";
    }
    return out;
  };
  {
    h2::RawConnection connection(instance.target());
    REQUIRE(connection.handshake(seconds(5)));
    REQUIRE(connection.send(requests));
    const h2::Answer answer = connection.converse(seconds(10), false, streams);
    report("4 Drill/Sleep(1s) streams at once after acking SETTINGS, --max-concurrent-streams 2",
           outcome(answer) + "frames: " + answer.summary());
    INFO(answer.summary());
    // A stream over the acked limit is a connection error on both; only that client suffers.
    // nghttp2 (native) answers GOAWAY PROTOCOL_ERROR and closes; gRPC 1.51 fails the streams it
    // had started UNAVAILABLE ("Failed parsing HTTP/2") and closes.
    CHECK(answer.closed);
    if (test_transport() == "native") {
      REQUIRE(answer.goaway.has_value());
      CHECK(*answer.goaway == 0x1);  // PROTOCOL_ERROR
    } else {
      CHECK(answer.header("grpc-status", 1) == "14");
      CHECK(answer.header("grpc-status", 3) == "14");
    }
    check_workers_serve(instance, "streams over max-concurrent-streams");
  }
  {
    h2::RawConnection connection(instance.target());
    REQUIRE(
        connection.send(std::string(h2::kPreface) + h2::frame(h2::kSettings, 0, 0, "") + requests));
    const h2::Answer answer = connection.converse(seconds(10), false, streams);
    report(
        "4 Drill/Sleep(1s) streams at once without acking SETTINGS, --max-concurrent-streams 2 "
        "--max-concurrent-rpcs 3",
        outcome(answer) + "frames: " + answer.summary());
    INFO(answer.summary());
    // Each stream is answered: served, RESOURCE_EXHAUSTED by max-concurrent-rpcs (gRPC 1.51,
    // which applies the stream limit only once acked), or RST_STREAM REFUSED_STREAM for a stream
    // over the limit the server announced (nghttp2; RFC 9113 §5.1.2 — a client retries those).
    // (The first block's calls may still hold slots of --max-concurrent-rpcs: served or
    // RESOURCE_EXHAUSTED are both the documented answer for a stream within the limit.)
    const auto served_or_exhausted = [&](std::uint32_t stream) {
      const std::string status = answer.header("grpc-status", stream);
      return status == "0" || status == "8";
    };
    if (test_transport() == "native") {
      CHECK(served_or_exhausted(1));
      CHECK(served_or_exhausted(3));
      for (std::uint32_t stream : {5u, 7u}) {
        REQUIRE(answer.resets.count(stream) == 1);
        CHECK(answer.resets.at(stream) == 0x7);  // REFUSED_STREAM
      }
    } else {
      int ok = 0;
      for (std::uint32_t stream : streams) {
        CHECK(served_or_exhausted(stream));
        CHECK(answer.resets.count(stream) == 0);
        ok += answer.header("grpc-status", stream) == "0";
      }
      CHECK(ok <= 3);
    }
    check_workers_serve(instance, "streams from a client that never acked SETTINGS");
  }
}

TEST_CASE(
    "2,000 idle connections held open do not keep normal clients from answers within their "
    "deadline",
    "[hostile][slowloris]") {
  // GRYPHON_HOSTILE_IDLE raises the count for a bench run (the 10,000).
  const char* override_count = std::getenv("GRYPHON_HOSTILE_IDLE");
  const int idle_count = override_count != nullptr ? std::atoi(override_count) : 2000;
  REQUIRE(idle_count > 0);
  raise_open_files(static_cast<rlim_t>(idle_count) + 1024);
  // A long handshake timeout: the silent sockets are held for the whole case.
  Instance instance({"--handshake-timeout", "60s"});
  std::vector<std::unique_ptr<h2::RawConnection>> idle;
  const auto opening = Clock::now();
  for (int i = 0; i < idle_count; ++i) {
    idle.push_back(std::make_unique<h2::RawConnection>(instance.target()));
    REQUIRE(idle.back()->connected());
    // Half never say a word; half send the preface and SETTINGS, then never a request.
    if (i % 2 == 1)
      idle.back()->send(std::string(h2::kPreface) + h2::frame(h2::kSettings, 0, 0, ""));
  }
  const long opened_ms = ms_since(opening);
  const bool all_accepted =
      wait_until([&] { return instance.sum("gryphon_connections{") >= idle_count; }, seconds(30),
                 milliseconds(200));
  const auto held = instance.scrape();
  const double accepted = instance.sum("gryphon_connections{");
  const long accepted_ms = ms_since(opening);
  const std::string per_slot =
      std::to_string(static_cast<int>(metric(held, "gryphon_connections{slot=\"0\"}"))) + "+" +
      std::to_string(static_cast<int>(metric(held, "gryphon_connections{slot=\"1\"}")));
  INFO("connections the workers hold: " << accepted);
  REQUIRE(all_accepted);

  // Normal clients, each on a fresh connection with a 2s deadline.
  long slowest = 0;
  int ok = 0;
  std::string first_failure;
  for (int i = 0; i < 20; ++i) {
    auto channel = fresh_channel(instance.target());
    const auto start = Clock::now();
    auto stub = helloworld::Greeter::NewStub(channel);
    grpc::ClientContext context;
    context.set_deadline(std::chrono::system_clock::now() + seconds(2));
    helloworld::HelloRequest request;
    request.set_name("busy");
    helloworld::HelloReply reply;
    const grpc::Status status = stub->SayHello(&context, request, &reply);
    slowest = std::max(slowest, ms_since(start));
    if (status.ok() && reply.message() == "Hello busy") {
      ++ok;
    } else if (first_failure.empty()) {
      first_failure = describe(status);
    }
  }
  auto load = std::make_unique<LoadGenerator>(LoadOptions{.target = instance.target(),
                                                          .connections = 4,
                                                          .in_flight = 16,
                                                          .deadline = milliseconds(2000)});
  load->start();
  const bool load_ok = load->wait_for_ok(2000, seconds(20));
  load->stop();
  const std::string load_report = load->report();
  const auto load_failed = load->failed();
  load.reset();  // its connections close too
  int closed = 0;
  for (auto& connection : idle) closed += connection->closed_by_peer() ? 1 : 0;
  report(std::to_string(idle_count) +
             " idle connections (half silent, half preface+SETTINGS only) held open",
         "opened in " + std::to_string(opened_ms) + "ms, all " +
             std::to_string(static_cast<int>(accepted)) + " held by the workers (" + per_slot +
             ") after " + std::to_string(accepted_ms) + "ms, " + std::to_string(closed) +
             " closed by the server; 20 fresh-connection SayHello calls with a 2s deadline: " +
             std::to_string(ok) + " OK, slowest " + std::to_string(slowest) +
             "ms; load (4 connections, 16 in flight, 2s deadline): " + load_report);
  INFO("first failure: " << first_failure << "; load: " << load_report);
  CHECK(ok == 20);
  CHECK(load_ok);
  CHECK(load_failed == 0);
  CHECK(closed == 0);

  idle.clear();
  // The workers notice every close (no descriptor kept).
  const bool all_gone = wait_until([&] { return instance.sum("gryphon_connections{") == 0; },
                                   seconds(15), milliseconds(200));
  INFO("connections the workers still count: " << instance.sum("gryphon_connections{"));
  CHECK(all_gone);
  check_workers_serve(instance, "2,000 idle connections");
}

TEST_CASE("sockets that never complete the HTTP/2 preface are closed after the handshake timeout",
          "[hostile][handshake]") {
  Instance instance({"--handshake-timeout", "1s"});
  constexpr int kSilent = 20, kTruncated = 5, kComplete = 3;
  std::vector<std::unique_ptr<h2::RawConnection>> hostile, complete;
  std::vector<Clock::time_point> opened;
  for (int i = 0; i < kSilent + kTruncated; ++i) {
    opened.push_back(Clock::now());
    hostile.push_back(std::make_unique<h2::RawConnection>(instance.target()));
    REQUIRE(hostile.back()->connected());
    if (i >= kSilent) hostile.back()->send(h2::kPreface.substr(0, 16));  // "PRI * HTTP/2.0\r\n"
  }
  for (int i = 0; i < kComplete; ++i) {
    complete.push_back(std::make_unique<h2::RawConnection>(instance.target()));
    complete.back()->send(std::string(h2::kPreface) + h2::frame(h2::kSettings, 0, 0, ""));
  }
  std::vector<long> closed_after;
  std::string first_received;
  for (std::size_t i = 0; i < hostile.size(); ++i) {
    std::string received;
    const auto left = std::max<long>(0, 12000 - ms_since(opened[i]));
    if (hostile[i]->wait_closed(milliseconds(left), &received))
      closed_after.push_back(ms_since(opened[i]));
    if (i == 0) first_received = h2::describe_frames(received);
  }
  const bool all_closed = closed_after.size() == hostile.size();
  const long first =
      closed_after.empty() ? -1 : *std::min_element(closed_after.begin(), closed_after.end());
  const long last =
      closed_after.empty() ? -1 : *std::max_element(closed_after.begin(), closed_after.end());
  int complete_closed = 0;
  for (auto& connection : complete) complete_closed += connection->closed_by_peer() ? 1 : 0;
  report(std::to_string(kSilent) + " silent sockets and " + std::to_string(kTruncated) +
             " that sent 16 bytes of the preface, --handshake-timeout 1s",
         std::to_string(closed_after.size()) + " of " + std::to_string(hostile.size()) +
             " closed, after " + std::to_string(first) + ".." + std::to_string(last) +
             "ms; a silent socket received: " + first_received + "; " +
             std::to_string(complete_closed) + " of " + std::to_string(kComplete) +
             " connections that completed the preface were closed");
  CHECK(all_closed);
  CHECK(first >= 900);  // the timeout closed them, not the input
  // 1 s plus accept and timer slack: ASan on a loaded 2-core machine has shown seconds of it.
  CHECK(last <= 8000);
  CHECK(complete_closed == 0);
  // The workers saw the closes: only the completed connections are left.
  CHECK(wait_until([&] { return instance.sum("gryphon_connections{") == kComplete; }, seconds(5),
                   milliseconds(100)));
  complete.clear();
  check_workers_serve(instance, "handshake timeout");
}

TEST_CASE("a connection idle for --idle-timeout gets a GOAWAY and is closed", "[hostile][idle]") {
  Instance instance({"--idle-timeout", "1s"});
  h2::RawConnection idle(instance.target());
  REQUIRE(idle.handshake(milliseconds(5000)));
  // No stream 1 is ever opened: read until the server closes the connection or 6 s pass.
  const h2::Answer answer = idle.converse(milliseconds(12000), /*stop_at_goaway=*/false, {1});
  report("a connection that completed the handshake and then sent nothing, --idle-timeout 1s",
         answer.summary());
  // gRPC 1.51 says goodbye with INTERNAL_ERROR and "enter idle" (measured), the native transport
  // with NO_ERROR and "idle timeout"; with no stream open
  // there is nothing to fail, and a gRPC client reconnects on its next call.
  REQUIRE(answer.goaway.has_value());
  CHECK(answer.goaway_debug.find("idle") != std::string::npos);  // "enter idle", "idle timeout"
  CHECK(answer.closed);
  CHECK(answer.closed_after_ms >= 500);   // the idle timer closed it, not the handshake
  CHECK(answer.closed_after_ms <= 8000);  // 1 s plus timer slack (ASan, loaded 2 cores)
  CHECK(wait_until([&] { return instance.sum("gryphon_connections{") == 0; }, seconds(5),
                   milliseconds(100)));
  check_workers_serve(instance, "idle timeout");
}

TEST_CASE("a client that pings without calls more often than allowed gets GOAWAY ENHANCE_YOUR_CALM",
          "[hostile][keepalive]") {
  Instance instance({"--keepalive-min-interval", "10s"});
  h2::RawConnection pinger(instance.target());
  REQUIRE(pinger.handshake(milliseconds(5000)));
  for (int i = 0; i < 5; ++i)
    pinger.send(h2::frame(h2::kPing, 0, 0, std::string(8, static_cast<char>('a' + i))));
  const h2::Answer answer = pinger.converse(milliseconds(5000), /*stop_at_goaway=*/true, {1});
  report("5 PINGs in a row on a connection with no calls (2 strikes allowed)", answer.summary());
  REQUIRE(answer.goaway.has_value());
  CHECK(*answer.goaway == 0xb);  // ENHANCE_YOUR_CALM
  CHECK(answer.goaway_debug.find("too_many_pings") != std::string::npos);
  check_workers_serve(instance, "ping flood");
}

TEST_CASE("RPCs over max-concurrent-rpcs fail fast with RESOURCE_EXHAUSTED instead of queueing",
          "[hostile][concurrency]") {
  Instance instance({"--max-concurrent-rpcs", "4", "--threads", "16"});
  const auto channel = fresh_channel(instance.target());  // one connection: one worker
  const SleepResult probe = sleep_on(channel, 0, seconds(5));
  REQUIRE(probe.status.ok());
  const std::string slot = "{slot=\"" + std::to_string(probe.slot) + "\"}";

  std::vector<std::future<SleepResult>> admitted;
  for (int i = 0; i < 4; ++i) {
    admitted.push_back(
        std::async(std::launch::async, [&] { return sleep_on(channel, 3000, seconds(10)); }));
  }
  REQUIRE(
      wait_until([&] { return metric(instance.scrape(), "gryphon_in_flight_rpcs" + slot) == 4; },
                 seconds(5), milliseconds(50)));
  std::vector<std::future<SleepResult>> excess;
  for (int i = 0; i < 4; ++i) {
    excess.push_back(
        std::async(std::launch::async, [&] { return sleep_on(channel, 3000, seconds(10)); }));
  }
  std::string answers;
  std::vector<SleepResult> rejected;
  for (auto& f : excess) {
    rejected.push_back(f.get());
    const SleepResult& r = rejected.back();
    answers += describe(r.status) + " in " + std::to_string(r.ms) + "ms; ";
    CHECK(r.status.error_code() == grpc::StatusCode::RESOURCE_EXHAUSTED);
  }
  for (auto& f : admitted) {
    const SleepResult r = f.get();
    CHECK(r.status.ok());
    CHECK(r.pid == probe.pid);
    // Rejected at once, not queued behind the admitted calls: each answer came before any of
    // them ended (an order, not a time bound a loaded machine could break).
    for (const SleepResult& excess_call : rejected) CHECK(excess_call.ended < r.ended);
  }
  report("8 Drill/Sleep(3s) on one connection, --max-concurrent-rpcs 4",
         "4 admitted and OK after 3s; the other 4: " + answers);
  CHECK(wait_until(
      [&] { return metric(instance.scrape(), "gryphon_rpcs_rejected_total" + slot) == 4; },
      seconds(5), milliseconds(50)));
  CHECK(sleep_on(channel, 0, seconds(5)).status.ok());  // the slots are free again
  check_workers_serve(instance, "max-concurrent-rpcs");
}

TEST_CASE("a handler that throws gets INTERNAL and its worker lives on", "[hostile][throw]") {
  Instance instance({});
  std::set<std::string> answers;
  for (int i = 0; i < 10; ++i) {  // fresh connections: both workers throw
    auto stub = gryphon::test::Drill::NewStub(fresh_channel(instance.target()));
    grpc::ClientContext context;
    context.set_deadline(std::chrono::system_clock::now() + seconds(5));
    gryphon::test::ThrowRequest request;
    request.set_message("hostile-secret-detail");
    gryphon::test::ThrowReply reply;
    const grpc::Status status = stub->Throw(&context, request, &reply);
    answers.insert(describe(status));
    CHECK(status.error_code() == grpc::StatusCode::INTERNAL);
    CHECK(status.error_message().find("hostile-secret-detail") ==
          std::string::npos);  // not leaked to clients
  }
  std::string joined;
  for (const auto& a : answers) joined += a + " ";
  report("Drill/Throw (std::runtime_error) x10 over fresh connections", joined);
  CHECK(instance.log().find("threw: hostile-secret-detail") != std::string::npos);  // but logged
  check_workers_serve(instance, "handlers that throw");
}

TEST_CASE(
    "a handler that crashes its worker fails only that worker's in-flight RPCs; the master "
    "replaces it",
    "[hostile][crash]") {
  Instance instance({});
  // Two connections pinned on each worker.
  std::map<pid_t, std::vector<std::shared_ptr<grpc::Channel>>> pinned;
  std::map<pid_t, int> slot_of;
  for (int i = 0; i < 200; ++i) {
    if (pinned.size() == 2 && pinned.begin()->second.size() == 2 &&
        pinned.rbegin()->second.size() == 2)
      break;
    auto channel = fresh_channel(instance.target());
    const SleepResult r = sleep_on(channel, 0, seconds(5));
    REQUIRE(r.status.ok());
    slot_of[r.pid] = r.slot;
    if (pinned[r.pid].size() < 2) pinned[r.pid].push_back(channel);
  }
  REQUIRE(pinned.size() == 2);
  const pid_t victim = pinned.begin()->first, survivor = pinned.rbegin()->first;
  REQUIRE(pinned[victim].size() == 2);
  REQUIRE(pinned[survivor].size() == 2);

  std::map<pid_t, std::vector<std::future<SleepResult>>> in_flight;
  for (auto& [pid, channels] : pinned) {
    for (auto& channel : channels) {
      in_flight[pid].push_back(std::async(
          std::launch::async, [channel] { return sleep_on(channel, 3000, seconds(10)); }));
    }
  }
  REQUIRE(wait_until(
      [&] {
        const auto m = instance.scrape();
        for (const auto& [pid, slot] : slot_of) {
          if (metric(m, "gryphon_in_flight_rpcs{slot=\"" + std::to_string(slot) + "\"}") != 2)
            return false;
        }
        return true;
      },
      seconds(5), milliseconds(50)));

  auto stub = gryphon::test::Drill::NewStub(pinned[victim].front());
  grpc::ClientContext context;
  context.set_deadline(std::chrono::system_clock::now() + seconds(5));
  gryphon::test::CrashReply crash_reply;
  const grpc::Status crash = stub->Crash(&context, gryphon::test::CrashRequest(), &crash_reply);

  std::string victim_answers, survivor_answers;
  for (auto& f : in_flight[victim]) {
    const SleepResult r = f.get();
    victim_answers += describe(r.status) + " after " + std::to_string(r.ms) + "ms; ";
    CHECK_FALSE(r.status.ok());
    CHECK(r.status.error_code() == grpc::StatusCode::UNAVAILABLE);
  }
  for (auto& f : in_flight[survivor]) {
    const SleepResult r = f.get();
    survivor_answers += describe(r.status) + " from pid " + std::to_string(r.pid) + "; ";
    CHECK(r.status.ok());
    CHECK(r.pid == survivor);
  }
  pid_t replacement = 0;
  const bool replaced = wait_until(
      [&] {
        replacement = 0;
        const auto children = children_of(instance.pid());
        if (children.size() != 2) return false;
        for (pid_t child : children) {
          if (child == victim) return false;
          if (child != survivor) replacement = child;
        }
        return replacement != 0 && metric(instance.scrape(), "gryphon_workers_ready") == 2;
      },
      seconds(10));
  const auto m = instance.scrape();
  report("Drill/Crash (abort) with 2 Sleep(3s) in flight on each worker",
         "the Crash call: " + describe(crash) + "; in flight on the crashed worker: " +
             victim_answers + "on the other worker: " + survivor_answers + "replacement pid " +
             std::to_string(replacement) + ", gryphon_worker_restarts_total{reason=\"crash\"} = " +
             std::to_string(
                 static_cast<int>(metric(m, "gryphon_worker_restarts_total{reason=\"crash\"}"))));
  INFO(instance.log());
  CHECK(crash.error_code() == grpc::StatusCode::UNAVAILABLE);
  REQUIRE(replaced);
  CHECK(metric(m, "gryphon_worker_restarts_total{reason=\"crash\"}") == 1);
  instance.set_workers({survivor, replacement});
  check_workers_serve(instance, "a crashing handler", /*restarts=*/1);
}
