// HealthService's hand-written grpc.health.v1 codec, checked against protobuf's own encoding of
// the same messages (built with protobuf's wire-format primitives, no generated code), the
// statuses it reports, and Watch: an async stream that wakes on a change, a drain or a cancel.
#include "dispatch/health_service.h"  // first: gryphon/async.h includes <utility> before Asio

#include <google/protobuf/io/coded_stream.h>
#include <google/protobuf/io/zero_copy_stream_impl_lite.h>

#include <catch2/catch.hpp>
#include <deque>
#include <functional>
#include <thread>
#include <vector>

#include "gryphon/testing.h"

namespace gryphon::internal {
namespace {

// HealthCheckRequest{service: name} / HealthCheckResponse{status: value} as protobuf writes them.
std::string protobuf_request(const std::string& name) {
  std::string bytes;
  google::protobuf::io::StringOutputStream stream(&bytes);
  google::protobuf::io::CodedOutputStream out(&stream);
  if (!name.empty()) {
    out.WriteTag((1 << 3) | 2);
    out.WriteVarint32(static_cast<std::uint32_t>(name.size()));
    out.WriteString(name);
  }
  out.Trim();
  return bytes;
}

std::string protobuf_response(int status) {
  std::string bytes;
  google::protobuf::io::StringOutputStream stream(&bytes);
  google::protobuf::io::CodedOutputStream out(&stream);
  if (status != 0) {
    out.WriteTag(1 << 3);
    out.WriteVarint32(static_cast<std::uint32_t>(status));
  }
  out.Trim();
  return bytes;
}

TEST_CASE("requests encode as protobuf does and decode back") {
  for (const std::string& name :
       std::vector<std::string>{"", "helloworld.Greeter", std::string(120, 'x')}) {
    INFO(name);
    CHECK(HealthService::encode_request(name) == protobuf_request(name));
    std::string decoded = "stale";
    REQUIRE(HealthService::parse_request(protobuf_request(name), &decoded));
    CHECK(decoded == name);
  }
}

TEST_CASE("responses encode as protobuf does and decode back") {
  using Status = HealthService::Status;
  for (Status status :
       {Status::kUnknown, Status::kServing, Status::kNotServing, Status::kServiceUnknown}) {
    const int value = static_cast<int>(status);
    INFO(value);
    CHECK(HealthService::encode_response(status) == protobuf_response(value));
    CHECK(HealthService::parse_response(protobuf_response(value)) == status);
  }
}

TEST_CASE("unknown fields are skipped, and truncated or foreign bytes are refused") {
  std::string service;
  // field 2 (varint 7) before field 1: still the same request.
  CHECK(
      HealthService::parse_request(std::string("\x10\x07", 2) + protobuf_request("svc"), &service));
  CHECK(service == "svc");
  CHECK_FALSE(HealthService::parse_request(std::string("\x0a\x05svc", 5),
                                           &service));  // length past the end
  CHECK_FALSE(HealthService::parse_request(std::string("\x0b", 1), &service));  // wire type 3
  CHECK_FALSE(
      HealthService::parse_response(std::string("\x08\x09", 2)).has_value());      // no such status
  CHECK_FALSE(HealthService::parse_response(std::string("\x08", 1)).has_value());  // cut-off varint
}

// A Watch call's stream as the transport shows it: the request bytes, then end of input; each
// response kept, and `after_write` run once it is taken (on the handler's loop).
class WatchStream final : public detail::AsyncRawStream {
 public:
  WatchStream(testing::TestCall& call, std::string request) : stream(*this, call.scope()) {
    script_.push_back(std::move(request));
  }
  Poll poll_read(std::string& message) override {
    if (script_.empty()) return Poll::kEnded;
    message = std::move(script_.front());
    script_.pop_front();
    return Poll::kReady;
  }
  Poll poll_write(std::string_view message, const WriteOptions&) override {
    written.push_back(HealthService::parse_response(message).value_or(HealthService::Status{99}));
    if (after_write) after_write(written.size());
    return Poll::kReady;
  }
  Poll poll_send_initial_metadata() override { return Poll::kReady; }
  Poll poll_flushed() override { return Poll::kReady; }
  void on_wake(std::function<void()>) override {}
  std::uint64_t write_progress() const override { return written.size(); }
  Limits limits() const override { return {}; }
  void read_timed_out() override {}
  void write_timed_out() override {}

  std::vector<HealthService::Status> written;
  std::function<void(std::size_t)> after_write;
  detail::AsyncStream stream;

 private:
  std::deque<std::string> script_;
};

grpc::Status run_watch(HealthService& health, testing::TestCall& call, WatchStream& stream) {
  ServiceDef def = health.definition();
  REQUIRE(def.methods.size() == 2);
  const MethodDef& watch = def.methods[1];
  REQUIRE(watch.method == "Watch");
  REQUIRE(watch.async_stream);  // it holds no pool thread
  return call.run(watch.async_stream(call.context(), stream.stream));
}

using Status = HealthService::Status;

TEST_CASE("a watch sends the status, each change from another thread, and ends on the drain") {
  HealthService health({"shop.Catalog"});
  testing::TestCall call;
  WatchStream stream(call, HealthService::encode_request("shop.Catalog"));
  std::thread changer;
  stream.after_write = [&](std::size_t written) {
    // Each change comes from another thread, as the worker's control link sets it.
    if (changer.joinable()) changer.join();
    if (written == 1) changer = std::thread([&] { health.set_serving(false); });
    if (written == 2) changer = std::thread([&] { health.set_serving(true); });
    if (written == 3) {
      changer = std::thread([&] {
        call.draining = true;  // the dispatcher is marked first, then the watches woken
        health.end_watches();
      });
    }
  };
  const grpc::Status status = run_watch(health, call, stream);
  if (changer.joinable()) changer.join();
  CHECK(status.error_code() == grpc::StatusCode::UNAVAILABLE);
  CHECK(status.error_message() == "this server is draining");
  CHECK(stream.written ==
        std::vector<Status>{Status::kServing, Status::kNotServing, Status::kServing});
}

TEST_CASE("a watch of an unknown service says so and ends when the client cancels") {
  HealthService health({});
  testing::TestCall call;
  call.cancel_after = std::chrono::milliseconds(50);
  WatchStream stream(call, HealthService::encode_request("no.Such"));
  const grpc::Status status = run_watch(health, call, stream);
  CHECK(status.error_code() == grpc::StatusCode::CANCELLED);
  CHECK(stream.written == std::vector<Status>{Status::kServiceUnknown});
}

TEST_CASE("a watch whose request is malformed ends INVALID_ARGUMENT without watching") {
  HealthService health({});
  testing::TestCall call;
  WatchStream stream(call, std::string("\x0b", 1));
  const grpc::Status status = run_watch(health, call, stream);
  CHECK(status.error_code() == grpc::StatusCode::INVALID_ARGUMENT);
  CHECK(stream.written.empty());
}

TEST_CASE("a watch that sees no change sends nothing more") {
  // The same status set again is no change: the watch keeps still until the client cancels.
  HealthService health({});
  testing::TestCall call;
  call.cancel_after = std::chrono::milliseconds(100);
  WatchStream stream(call, HealthService::encode_request(""));
  std::thread changer;
  stream.after_write = [&](std::size_t) {
    changer = std::thread([&] { health.set_serving(true); });
  };
  const grpc::Status status = run_watch(health, call, stream);
  changer.join();
  CHECK(status.error_code() == grpc::StatusCode::CANCELLED);
  CHECK(stream.written == std::vector<Status>{Status::kServing});
}

}  // namespace
}  // namespace gryphon::internal
