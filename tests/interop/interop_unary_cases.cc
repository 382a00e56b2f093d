// The unary-call cases of the gRPC C++ interop client, and the metadata, status and
// unimplemented cases (see interop_client.h).
#include <map>
#include <string>

#include "interop_client.h"

namespace interop {

using namespace grpc::testing;

namespace {

const char kSpecialMessage[] =
    "\t\ntest with whitespace\r\nand Unicode BMP \xe2\x98\xba and non-BMP \xf0\x9f\x98\x88\t\n";
const char kInitialKey[] = "x-grpc-test-echo-initial";
const char kInitialValue[] = "test_initial_metadata_value";
const char kTrailingKey[] = "x-grpc-test-echo-trailing-bin";
const std::string kTrailingValue("\xab\xab\xab", 3);

}  // namespace

void Cases::empty_unary() {
  Context context;
  Empty response;
  expect_ok(stub_->EmptyCall(&context, Empty(), &response));
}

void Cases::large_unary() {
  SimpleRequest request;
  request.set_response_size(314159);
  *request.mutable_payload() = zeros(271828);
  Context context;
  SimpleResponse response;
  expect_ok(stub_->UnaryCall(&context, request, &response));
  expect_body(response.payload(), 314159);
}

void Cases::client_compressed_unary() {
  auto call = [&](bool expect, grpc_compression_algorithm algorithm) {
    SimpleRequest request;
    request.mutable_expect_compressed()->set_value(expect);
    request.set_response_size(314159);
    *request.mutable_payload() = zeros(271828);
    Context context;
    context.set_compression_algorithm(algorithm);
    SimpleResponse response;
    grpc::Status status = stub_->UnaryCall(&context, request, &response);
    if (status.ok()) expect_body(response.payload(), 314159);
    return status;
  };
  if (compression_probe_) {
    expect_code(call(true, GRPC_COMPRESS_NONE), grpc::StatusCode::INVALID_ARGUMENT);
  } else {
    skipped.push_back("the expect_compressed probe, per --compression_probe=false");
  }
  expect_ok(call(true, GRPC_COMPRESS_GZIP), "the compressed call");
  expect_ok(call(false, GRPC_COMPRESS_NONE), "the uncompressed call");
}

void Cases::server_compressed_unary() {
  for (bool compressed : {true, false}) {
    SimpleRequest request;
    request.mutable_response_compressed()->set_value(compressed);
    request.set_response_size(314159);
    *request.mutable_payload() = zeros(271828);
    Context context;
    SimpleResponse response;
    expect_ok(stub_->UnaryCall(&context, request, &response));
    expect_body(response.payload(), 314159);
    expect_compressed(context, compressed, compressed ? "the compressed response" : "the response");
  }
}

void Cases::custom_metadata() {
  auto with_metadata = [](grpc::ClientContext& context) {
    context.AddMetadata(kInitialKey, kInitialValue);
    context.AddMetadata(kTrailingKey, kTrailingValue);
  };
  auto expect_echoed = [](grpc::ClientContext& context, const std::string& which) {
    auto value = [](const std::multimap<grpc::string_ref, grpc::string_ref>& metadata,
                    const std::string& key) -> std::string {
      auto found = metadata.find(key);
      return found == metadata.end() ? "(absent)"
                                     : std::string(found->second.data(), found->second.size());
    };
    check(value(context.GetServerInitialMetadata(), kInitialKey) == kInitialValue,
          which + ": initial metadata " + kInitialKey + " is \"" +
              value(context.GetServerInitialMetadata(), kInitialKey) + "\", expected \"" +
              kInitialValue + "\"");
    check(value(context.GetServerTrailingMetadata(), kTrailingKey) == kTrailingValue,
          which + ": trailing metadata " + kTrailingKey + " is not 0xababab");
  };
  {
    SimpleRequest request;
    request.set_response_size(314159);
    *request.mutable_payload() = zeros(271828);
    Context context;
    with_metadata(context);
    SimpleResponse response;
    expect_ok(stub_->UnaryCall(&context, request, &response), "UnaryCall");
    expect_body(response.payload(), 314159);
    expect_echoed(context, "UnaryCall");
  }
  StreamingOutputCallRequest request;
  add_response(request, 314159);
  *request.mutable_payload() = zeros(271828);
  Context context;
  with_metadata(context);
  auto stream = stub_->FullDuplexCall(&context);
  check(stream->Write(request), "FullDuplexCall: the stream broke while sending");
  stream->WritesDone();
  StreamingOutputCallResponse response;
  check(stream->Read(&response), "FullDuplexCall: no response");
  expect_body(response.payload(), 314159);
  check(!stream->Read(&response), "FullDuplexCall: more than one response");
  expect_ok(stream->Finish(), "FullDuplexCall");
  expect_echoed(context, "FullDuplexCall");
}

void Cases::status_code_and_message() {
  const std::string message = "test status message";
  expect_status(unary_with_status(message), message);
  StreamingOutputCallRequest request;
  request.mutable_response_status()->set_code(2);
  request.mutable_response_status()->set_message(message);
  Context context;
  auto stream = stub_->FullDuplexCall(&context);
  stream->Write(request);
  stream->WritesDone();
  StreamingOutputCallResponse response;
  while (stream->Read(&response)) {
  }
  expect_status(stream->Finish(), message);
}

void Cases::special_status_message() {
  expect_status(unary_with_status(kSpecialMessage), kSpecialMessage);
}

void Cases::unimplemented_method() {
  Context context;
  Empty response;
  expect_code(stub_->UnimplementedCall(&context, Empty(), &response),
              grpc::StatusCode::UNIMPLEMENTED);
}

void Cases::unimplemented_service() {
  Context context;
  Empty response;
  expect_code(unimplemented_->UnimplementedCall(&context, Empty(), &response),
              grpc::StatusCode::UNIMPLEMENTED);
}

grpc::Status Cases::unary_with_status(const std::string& message) {
  SimpleRequest request;
  request.mutable_response_status()->set_code(2);
  request.mutable_response_status()->set_message(message);
  Context context;
  SimpleResponse response;
  return stub_->UnaryCall(&context, request, &response);
}

void Cases::expect_status(const grpc::Status& status, const std::string& message) {
  expect_code(status, grpc::StatusCode::UNKNOWN);
  check(status.error_message() == message,
        "status message \"" + status.error_message() + "\", expected \"" + message + "\"");
}

}  // namespace interop
