// grpc.testing.TestService on gryphon, written from gRPC's interop test descriptions
// (doc/interop-test-descriptions.md in the gRPC repository): the server every interop client
// (gRPC C++, Python grpcio, grpc-go) and the wire-level tests in this folder talk to.
//
// What the descriptions ask of a server, and where it happens here:
// - payloads of `response_size` zero bytes; `response_status` echoed as the call's status;
// - `x-grpc-test-echo-initial` echoed as response header metadata and
//   `x-grpc-test-echo-trailing-bin` as trailing metadata (custom_metadata);
// - `response_compressed` / ResponseParameters.compressed: the call compresses with gzip and a
//   message asked to go uncompressed is written with WriteOptions::no_compression
//   (server_compressed_unary, server_compressed_streaming);
// - ResponseParameters.interval_us: the wait before each streamed response.
// StreamingOutputCall sends its response headers before the first wait, so a client sees them
// without waiting for data. Runs as a normal gryphon server: every gryphon flag applies.
// - CompressedRequest: a request with expect_compressed=true that arrived uncompressed fails with
//   INVALID_ARGUMENT (Context::request_compressed), for unary and client-streaming calls.
// See respond() for the one request header this server adds to the descriptions.
#include <gryphon/server.h>

#include <chrono>
#include <thread>

#include "grpc/testing/test.gryphon.h"

namespace {

using grpc::testing::Payload;

void fill(Payload* payload, int size) {
  payload->set_type(grpc::testing::COMPRESSABLE);
  payload->mutable_body()->assign(static_cast<std::size_t>(std::max(size, 0)), '\0');
}

void echo_metadata(gryphon::Context& context) {
  if (auto initial = context.find_metadata("x-grpc-test-echo-initial")) {
    context.add_initial_metadata("x-grpc-test-echo-initial", std::string(*initial));
  }
  if (auto trailing = context.find_metadata("x-grpc-test-echo-trailing-bin")) {
    context.add_trailing_metadata("x-grpc-test-echo-trailing-bin", std::string(*trailing));
  }
}

// CompressedRequest: expect_compressed says the client compressed this message.
template <class Request>
bool compressed_as_expected(const gryphon::Context& context, const Request& request) {
  return !(request.has_expect_compressed() && request.expect_compressed().value()) ||
         context.request_compressed();
}
const grpc::Status kNotCompressed(grpc::StatusCode::INVALID_ARGUMENT,
                                  "expect_compressed is set but the request arrived uncompressed");

grpc::Status echo_status(const grpc::testing::EchoStatus& status) {
  return grpc::Status(static_cast<grpc::StatusCode>(status.code()), status.message());
}

// Writes the responses one StreamingOutputCallRequest asks for; false once the call is gone.
// Not in the descriptions: with request metadata `x-gryphon-write-hints: 1` every response but
// the last is written with buffer_hint and the last with last_message, so a test can check that
// hinted writes complete and leave together with the status.
bool respond(gryphon::Context& context, const grpc::testing::StreamingOutputCallRequest& request,
             gryphon::ServerWriter<grpc::testing::StreamingOutputCallResponse>& writer) {
  const bool hints = context.metadata("x-gryphon-write-hints") == "1";
  const int count = request.response_parameters_size();
  for (int i = 0; i < count; ++i) {
    const auto& parameters = request.response_parameters(i);
    if (parameters.interval_us() > 0) {
      std::this_thread::sleep_for(std::chrono::microseconds(parameters.interval_us()));
    }
    if (context.is_cancelled()) return false;
    gryphon::WriteOptions options;
    if (hints) {
      options.buffer_hint = i + 1 < count;
      options.last_message = i + 1 == count;
    }
    if (parameters.has_compressed()) {
      context.set_compression(gryphon::Compression::kGzip);  // no-op once compress_if_asked set it
      options.no_compression = !parameters.compressed().value();
    }
    grpc::testing::StreamingOutputCallResponse response;
    fill(response.mutable_payload(), parameters.size());
    if (!writer.Write(response, options)) return false;
  }
  return true;
}

// A call compresses (gzip) when any of its responses asks for compression; the choice travels in
// the response headers, so it is made before they are sent.
void compress_if_asked(gryphon::Context& context,
                       const grpc::testing::StreamingOutputCallRequest& request) {
  for (const auto& parameters : request.response_parameters()) {
    if (parameters.has_compressed()) context.set_compression(gryphon::Compression::kGzip);
  }
}

class TestService final : public grpc::testing::TestServiceHandler {
 public:
  grpc::Status EmptyCall(gryphon::Context& context, const grpc::testing::Empty&,
                         grpc::testing::Empty&) override {
    echo_metadata(context);
    return grpc::Status::OK;
  }

  grpc::Status UnaryCall(gryphon::Context& context, const grpc::testing::SimpleRequest& request,
                         grpc::testing::SimpleResponse& response) override {
    echo_metadata(context);
    if (!compressed_as_expected(context, request)) return kNotCompressed;
    if (request.response_status().code() != 0) return echo_status(request.response_status());
    if (request.has_response_compressed() && request.response_compressed().value()) {
      context.set_compression(gryphon::Compression::kGzip);
    }
    fill(response.mutable_payload(), request.response_size());
    return grpc::Status::OK;
  }

  grpc::Status CacheableUnaryCall(gryphon::Context& context,
                                  const grpc::testing::SimpleRequest& request,
                                  grpc::testing::SimpleResponse& response) override {
    return UnaryCall(context, request, response);
  }

  grpc::Status StreamingOutputCall(
      gryphon::Context& context, const grpc::testing::StreamingOutputCallRequest& request,
      gryphon::ServerWriter<grpc::testing::StreamingOutputCallResponse>& writer) override {
    echo_metadata(context);
    compress_if_asked(context, request);
    if (!writer.SendInitialMetadata())
      return grpc::Status(grpc::StatusCode::CANCELLED, "the call ended");
    if (!respond(context, request, writer))
      return grpc::Status(grpc::StatusCode::CANCELLED, "the call ended");
    if (request.response_status().code() != 0) return echo_status(request.response_status());
    return grpc::Status::OK;
  }

  grpc::Status StreamingInputCall(
      gryphon::Context& context,
      gryphon::ServerReader<grpc::testing::StreamingInputCallRequest>& reader,
      grpc::testing::StreamingInputCallResponse& response) override {
    grpc::testing::StreamingInputCallRequest request;
    std::int64_t total = 0;
    while (reader.Read(&request)) {
      if (!compressed_as_expected(context, request)) return kNotCompressed;
      total += static_cast<std::int64_t>(request.payload().body().size());
    }
    response.set_aggregated_payload_size(static_cast<std::int32_t>(total));
    return grpc::Status::OK;
  }

  grpc::Status FullDuplexCall(
      gryphon::Context& context,
      gryphon::ServerReaderWriter<grpc::testing::StreamingOutputCallResponse,
                                  grpc::testing::StreamingOutputCallRequest>& stream) override {
    echo_metadata(context);
    grpc::testing::StreamingOutputCallRequest request;
    while (stream.Read(&request)) {
      if (request.response_status().code() != 0) return echo_status(request.response_status());
      if (!respond(context, request, stream))
        return grpc::Status(grpc::StatusCode::CANCELLED, "the call ended");
    }
    return grpc::Status::OK;
  }

  grpc::Status HalfDuplexCall(
      gryphon::Context& context,
      gryphon::ServerReaderWriter<grpc::testing::StreamingOutputCallResponse,
                                  grpc::testing::StreamingOutputCallRequest>& stream) override {
    echo_metadata(context);
    std::vector<grpc::testing::StreamingOutputCallRequest> requests;
    grpc::testing::StreamingOutputCallRequest request;
    while (stream.Read(&request)) requests.push_back(request);
    for (const auto& each : requests) {
      if (!respond(context, each, stream))
        return grpc::Status(grpc::StatusCode::CANCELLED, "the call ended");
    }
    return grpc::Status::OK;
  }

  grpc::Status UnimplementedCall(gryphon::Context&, const grpc::testing::Empty&,
                                 grpc::testing::Empty&) override {
    return grpc::Status(grpc::StatusCode::UNIMPLEMENTED,
                        "TestService.UnimplementedCall is not implemented, by design");
  }
};

}  // namespace

int main(int argc, char** argv) {
  gryphon::Server server("interop_server");
  server.add_service<TestService>();
  return server.run(argc, argv);
}
