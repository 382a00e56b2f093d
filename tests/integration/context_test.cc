// What a handler sees of its call through gryphon::Context, checked from a gRPC C++ client over
// a real connection: request metadata with repeated keys, empty values and binary (-bin) values.
#include <grpcpp/grpcpp.h>

#include <catch2/catch.hpp>

#include "drill.grpc.pb.h"
#include "harness.h"

using namespace gryphon::test;

TEST_CASE(
    "Context tells a missing key from an empty one, reads every value of a repeated key and -bin "
    "bytes",
    "[context][metadata]") {
  ServerProcess server(binary_path("GRYPHON_DRILL_SERVER"),
                       {"--listen", "127.0.0.1:0", "--workers", "1", "--metrics-address", ""});
  server.wait_ready();
  auto stub = gryphon::test::Drill::NewStub(
      grpc::CreateChannel(server.target(), grpc::InsecureChannelCredentials()));
  grpc::ClientContext context;
  const std::string binary("\x00\x01\xfe\xff binary", 11);
  context.AddMetadata("x-multi", "first");
  context.AddMetadata("x-multi", "second");
  context.AddMetadata("x-empty", "");
  context.AddMetadata("x-data-bin", binary);
  gryphon::test::InspectRequest request;
  for (const char* key : {"x-multi", "x-empty", "x-absent", "x-data-bin"}) request.add_keys(key);
  gryphon::test::InspectReply reply;
  const grpc::Status status = stub->Inspect(&context, request, &reply);
  REQUIRE(status.ok());
  REQUIRE(reply.keys_size() == 4);
  INFO(reply.DebugString());

  const auto& multi = reply.keys(0);
  CHECK(multi.present());
  REQUIRE(multi.values_size() == 2);
  CHECK(multi.values(0) == "first");
  CHECK(multi.values(1) == "second");
  CHECK(multi.first() == "first");

  const auto& empty = reply.keys(1);
  CHECK(empty.present());
  REQUIRE(empty.values_size() == 1);
  CHECK(empty.values(0).empty());

  const auto& absent = reply.keys(2);
  CHECK_FALSE(absent.present());
  CHECK(absent.values_size() == 0);
  CHECK(absent.first().empty());

  const auto& bin = reply.keys(3);
  CHECK(bin.present());
  REQUIRE(bin.values_size() == 1);
  CHECK(bin.values(0) == binary);  // decoded bytes, NUL included, not base64
  CHECK(bin.first() == binary);
}
