// The streaming cases of the gRPC C++ interop client: client, server and bidirectional streams,
// cancellation and deadlines (see interop_client.h).
#include <chrono>
#include <string>
#include <utility>
#include <vector>

#include "interop_client.h"

namespace interop {

using namespace grpc::testing;

void Cases::client_streaming() {
  Context context;
  StreamingInputCallResponse response;
  auto writer = stub_->StreamingInputCall(&context, &response);
  for (int size : {27182, 8, 1828, 45904}) {
    StreamingInputCallRequest request;
    *request.mutable_payload() = zeros(size);
    check(writer->Write(request), "the stream broke while sending");
  }
  writer->WritesDone();
  expect_ok(writer->Finish());
  check(response.aggregated_payload_size() == 74922,
        "aggregated_payload_size is " + std::to_string(response.aggregated_payload_size()) +
            ", expected 74922");
}

void Cases::client_compressed_streaming() {
  auto request = [](bool expect, int size) {
    StreamingInputCallRequest request;
    request.mutable_expect_compressed()->set_value(expect);
    *request.mutable_payload() = zeros(size);
    return request;
  };
  if (compression_probe_) {
    Context context;
    StreamingInputCallResponse response;
    auto writer = stub_->StreamingInputCall(&context, &response);
    writer->Write(request(true, 27182));
    writer->WritesDone();
    expect_code(writer->Finish(), grpc::StatusCode::INVALID_ARGUMENT);
  } else {
    skipped.push_back("the expect_compressed probe, per --compression_probe=false");
  }
  Context context;
  context.set_compression_algorithm(GRPC_COMPRESS_GZIP);
  StreamingInputCallResponse response;
  auto writer = stub_->StreamingInputCall(&context, &response);
  check(writer->Write(request(true, 27182)), "the stream broke while sending");
  check(writer->Write(request(false, 45904), grpc::WriteOptions().set_no_compression()),
        "the stream broke while sending");
  writer->WritesDone();
  expect_ok(writer->Finish());
  check(response.aggregated_payload_size() == 73086,
        "aggregated_payload_size is " + std::to_string(response.aggregated_payload_size()) +
            ", expected 73086");
}

void Cases::server_streaming() {
  const std::vector<int> sizes = {31415, 9, 2653, 58979};
  StreamingOutputCallRequest request;
  for (int size : sizes) add_response(request, size);
  Context context;
  auto reader = stub_->StreamingOutputCall(&context, request);
  StreamingOutputCallResponse response;
  std::size_t count = 0;
  for (; reader->Read(&response); ++count) {
    check(count < sizes.size(), "more than 4 responses");
    expect_body(response.payload(), sizes[count], "response " + std::to_string(count + 1));
  }
  expect_ok(reader->Finish());
  check(count == sizes.size(), std::to_string(count) + " responses, expected 4");
}

void Cases::server_compressed_streaming() {
  const std::vector<std::pair<int, bool>> expected = {{31415, true}, {92653, false}};
  StreamingOutputCallRequest request;
  for (auto [size, compressed] : expected)
    add_response(request, size)->mutable_compressed()->set_value(compressed);
  Context context;
  auto reader = stub_->StreamingOutputCall(&context, request);
  StreamingOutputCallResponse response;
  std::size_t count = 0;
  for (; reader->Read(&response); ++count) {
    check(count < expected.size(), "more than 2 responses");
    const std::string what = "response " + std::to_string(count + 1);
    expect_body(response.payload(), expected[count].first, what);
    expect_compressed(context, expected[count].second, what);
  }
  expect_ok(reader->Finish());
  check(count == expected.size(), std::to_string(count) + " responses, expected 2");
}

void Cases::ping_pong() {
  const std::vector<std::pair<int, int>> steps = {
      {31415, 27182}, {9, 8}, {2653, 1828}, {58979, 45904}};
  Context context;
  auto stream = stub_->FullDuplexCall(&context);
  StreamingOutputCallResponse response;
  for (std::size_t i = 0; i < steps.size(); ++i) {
    StreamingOutputCallRequest request;
    add_response(request, steps[i].first);
    *request.mutable_payload() = zeros(steps[i].second);
    check(stream->Write(request),
          "the stream broke while sending request " + std::to_string(i + 1));
    check(stream->Read(&response),
          "the stream ended after " + std::to_string(i) + " responses, expected 4");
    expect_body(response.payload(), steps[i].first, "response " + std::to_string(i + 1));
  }
  stream->WritesDone();
  check(!stream->Read(&response), "a fifth response arrived after the client half-closed");
  expect_ok(stream->Finish());
}

void Cases::empty_stream() {
  Context context;
  auto stream = stub_->FullDuplexCall(&context);
  stream->WritesDone();
  StreamingOutputCallResponse response;
  check(!stream->Read(&response), "a response arrived, expected none");
  expect_ok(stream->Finish());
}

void Cases::cancel_after_begin() {
  Context context;
  StreamingInputCallResponse response;
  auto writer = stub_->StreamingInputCall(&context, &response);
  context.TryCancel();
  expect_code(writer->Finish(), grpc::StatusCode::CANCELLED);
}

void Cases::cancel_after_first_response() {
  Context context;
  auto stream = stub_->FullDuplexCall(&context);
  StreamingOutputCallRequest request;
  add_response(request, 31415);
  *request.mutable_payload() = zeros(27182);
  check(stream->Write(request), "the stream broke while sending");
  StreamingOutputCallResponse response;
  check(stream->Read(&response), "the stream ended before its first response");
  expect_body(response.payload(), 31415);
  context.TryCancel();
  expect_code(stream->Finish(), grpc::StatusCode::CANCELLED);
}

void Cases::timeout_on_sleeping_server() {
  grpc::ClientContext context;
  context.set_deadline(std::chrono::system_clock::now() + std::chrono::milliseconds(1));
  auto stream = stub_->FullDuplexCall(&context);
  StreamingOutputCallRequest request;
  *request.mutable_payload() = zeros(27182);
  stream->Write(request);  // may already fail: the deadline is that short
  StreamingOutputCallResponse response;
  check(!stream->Read(&response), "a response arrived, expected none");
  expect_code(stream->Finish(), grpc::StatusCode::DEADLINE_EXCEEDED);
}

}  // namespace interop
