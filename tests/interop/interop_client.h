// The gRPC C++ interop client's cases: one method of Cases per case of gRPC's interop test
// descriptions (doc/interop-test-descriptions.md in the gRPC repository), each throwing Failure
// with what it saw when a check fails. interop_client.cc parses the flags and runs them; the
// cases live in interop_unary_cases.cc and interop_stream_cases.cc.
#pragma once

#include <grpcpp/grpcpp.h>

#include <chrono>
#include <cstddef>
#include <memory>
#include <stdexcept>
#include <string>
#include <utility>
#include <vector>

#include "grpc/testing/test.grpc.pb.h"
#include "grpc_status_name.h"

namespace interop {

struct Failure : std::runtime_error {
  using std::runtime_error::runtime_error;
};

inline void check(bool condition, const std::string& why) {
  if (!condition) throw Failure(why);
}

std::string describe(const grpc::Status& status);  // "UNKNOWN (\"message\")"
void expect_ok(const grpc::Status& status, const std::string& what = "the call");
void expect_code(const grpc::Status& status, grpc::StatusCode code);
void expect_body(const grpc::testing::Payload& payload, std::size_t size,
                 const std::string& what = "response");
grpc::testing::Payload zeros(int size);
grpc::testing::ResponseParameters* add_response(grpc::testing::StreamingOutputCallRequest& request,
                                                int size);
// With `compressed`: the call compresses (grpc-encoding) and the message it received last had the
// compressed flag set; without: that message had the flag clear.
void expect_compressed(grpc::ClientContext& context, bool compressed, const std::string& what);

// A ClientContext with the deadline of every call but timeout_on_sleeping_server's.
struct Context : grpc::ClientContext {
  Context() { set_deadline(std::chrono::system_clock::now() + std::chrono::seconds(30)); }
};

class Cases {
 public:
  Cases(std::shared_ptr<grpc::Channel> channel, bool compression_probe);

  std::vector<std::string> skipped;  // what the case left out and why, for its PASS line

  // interop_unary_cases.cc
  void empty_unary();
  void large_unary();
  void client_compressed_unary();
  void server_compressed_unary();
  void custom_metadata();
  void status_code_and_message();
  void special_status_message();
  void unimplemented_method();
  void unimplemented_service();

  // interop_stream_cases.cc
  void client_streaming();
  void client_compressed_streaming();
  void server_streaming();
  void server_compressed_streaming();
  void ping_pong();
  void empty_stream();
  void cancel_after_begin();
  void cancel_after_first_response();
  void timeout_on_sleeping_server();

 private:
  grpc::Status unary_with_status(const std::string& message);
  static void expect_status(const grpc::Status& status, const std::string& message);

  std::unique_ptr<grpc::testing::TestService::Stub> stub_;
  std::unique_ptr<grpc::testing::UnimplementedService::Stub> unimplemented_;
  bool compression_probe_;
};

using Case = void (Cases::*)();
extern const std::vector<std::pair<std::string, Case>> kCases;  // every case, in the usual order

}  // namespace interop
