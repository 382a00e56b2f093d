// HealthService's hand-written grpc.health.v1 codec, checked against protobuf's own encoding of
// the same messages (built with protobuf's wire-format primitives, no generated code), and the
// statuses it reports.
#include "dispatch/health_service.h"

#include <google/protobuf/io/coded_stream.h>
#include <google/protobuf/io/zero_copy_stream_impl_lite.h>

#include <catch2/catch.hpp>
#include <vector>

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

}  // namespace
}  // namespace gryphon::internal
