// gRPC interop client on gRPC C++ 1.51 (Debian's libgrpc++), written from gRPC's interop test
// descriptions (doc/interop-test-descriptions.md in the gRPC repository).
//
//   interop_client_cxx --server_host HOST --server_port PORT [--use_tls=true --ca_file CA.pem
//                      --server_host_override NAME] [--test_case=NAME[,NAME...]|all]
//                      [--compression_probe=false]
//
// Prints `PASS name` or `FAIL name: why` per case and exits 1 if any failed. gRPC C++ can do
// everything the descriptions ask of these cases: per-call and per-message request compression,
// and (through libgrpc's test-only call inspectors, see below) the compressed flag of each
// received message. --compression_probe=false skips the client_compressed_* "expect_compressed"
// probe, for a server that cannot tell whether a request arrived compressed. The cases are in
// interop_unary_cases.cc and interop_stream_cases.cc (see interop_client.h).
#include <grpc/grpc.h>
#include <grpcpp/grpcpp.h>

#include <CLI/CLI.hpp>
#include <algorithm>
#include <cstdint>
#include <fstream>
#include <iostream>
#include <sstream>
#include <string>
#include <vector>

#include "interop_client.h"

// Exported by libgrpc but declared only in its internal call_test_only.h: what the last message a
// call received carried, and the call's compression. gRPC's own interop client reads the same.
uint32_t grpc_call_test_only_get_message_flags(grpc_call* call);
grpc_compression_algorithm grpc_call_test_only_get_compression_algorithm(grpc_call* call);

namespace interop {

using namespace grpc::testing;

// Internal message flags (src/core/lib/transport/transport.h): the message arrived compressed
// and was decompressed by the client, or it is still compressed.
constexpr uint32_t kWasCompressed = 0x40000000u;
constexpr uint32_t kInternalCompress = 0x80000000u;

std::string describe(const grpc::Status& status) {
  return gryphon::test::grpc_status_name(status.error_code()) + " (\"" + status.error_message() +
         "\")";
}

void expect_ok(const grpc::Status& status, const std::string& what) {
  check(status.ok(), what + " failed with " + describe(status));
}

void expect_code(const grpc::Status& status, grpc::StatusCode code) {
  check(status.error_code() == code, "the call ended with " + describe(status) + ", expected " +
                                         gryphon::test::grpc_status_name(code));
}

void expect_body(const Payload& payload, std::size_t size, const std::string& what) {
  check(payload.body().size() == size, what + " payload body is " +
                                           std::to_string(payload.body().size()) +
                                           " bytes, expected " + std::to_string(size));
  check(payload.body() == std::string(size, '\0'), what + " payload body is not all zeros");
}

Payload zeros(int size) {
  Payload payload;
  payload.set_body(std::string(static_cast<std::size_t>(size), '\0'));
  return payload;
}

// Whether the message `context`'s call received last had the compressed flag set.
static bool received_compressed(grpc::ClientContext& context) {
  return grpc_call_test_only_get_message_flags(context.c_call()) &
         (kWasCompressed | kInternalCompress);
}

void expect_compressed(grpc::ClientContext& context, bool compressed, const std::string& what) {
  if (compressed) {
    check(grpc_call_test_only_get_compression_algorithm(context.c_call()) != GRPC_COMPRESS_NONE,
          what + ": the call did not compress (no grpc-encoding), expected it to");
  }
  check(received_compressed(context) == compressed,
        what + (compressed ? " arrived without the compressed flag, expected it set"
                           : " arrived with the compressed flag set, expected it clear"));
}

ResponseParameters* add_response(StreamingOutputCallRequest& request, int size) {
  ResponseParameters* parameters = request.add_response_parameters();
  parameters->set_size(size);
  return parameters;
}

Cases::Cases(std::shared_ptr<grpc::Channel> channel, bool compression_probe)
    : stub_(TestService::NewStub(channel)),
      unimplemented_(UnimplementedService::NewStub(channel)),
      compression_probe_(compression_probe) {}

const std::vector<std::pair<std::string, Case>> kCases = {
    {"empty_unary", &Cases::empty_unary},
    {"large_unary", &Cases::large_unary},
    {"client_compressed_unary", &Cases::client_compressed_unary},
    {"server_compressed_unary", &Cases::server_compressed_unary},
    {"client_streaming", &Cases::client_streaming},
    {"client_compressed_streaming", &Cases::client_compressed_streaming},
    {"server_streaming", &Cases::server_streaming},
    {"server_compressed_streaming", &Cases::server_compressed_streaming},
    {"ping_pong", &Cases::ping_pong},
    {"empty_stream", &Cases::empty_stream},
    {"cancel_after_begin", &Cases::cancel_after_begin},
    {"cancel_after_first_response", &Cases::cancel_after_first_response},
    {"timeout_on_sleeping_server", &Cases::timeout_on_sleeping_server},
    {"custom_metadata", &Cases::custom_metadata},
    {"status_code_and_message", &Cases::status_code_and_message},
    {"special_status_message", &Cases::special_status_message},
    {"unimplemented_method", &Cases::unimplemented_method},
    {"unimplemented_service", &Cases::unimplemented_service},
};

}  // namespace interop

namespace {

std::string read_file(const std::string& path) {
  std::ifstream in(path, std::ios::binary);
  if (!in) throw std::runtime_error("cannot read " + path + ": give a readable PEM file");
  return std::string(std::istreambuf_iterator<char>(in), {});
}

}  // namespace

int main(int argc, char** argv) {
  using namespace interop;
  CLI::App app{"gRPC interop client on gRPC C++"};
  std::string host = "localhost", host_override, ca_file, test_case = "all";
  int port = 0;
  bool use_tls = false, compression_probe = true;
  app.add_option("--server_host", host, "server host to connect to");
  app.add_option("--server_port", port, "server port")->required();
  app.add_option("--server_host_override", host_override, "TLS name (and :authority) to claim");
  app.add_flag("--use_tls", use_tls, "connect with TLS");
  app.add_option("--ca_file", ca_file, "PEM roots for --use_tls (default: the system's)");
  app.add_option("--test_case", test_case, "a case, a comma-separated list, or all");
  app.add_flag("--compression_probe", compression_probe, "run the expect_compressed probes");
  // As gRPC's interop clients: `--flag=value` or `--flag value`, and a flag given twice keeps
  // the last value.
  for (CLI::Option* option : app.get_options())
    option->multi_option_policy(CLI::MultiOptionPolicy::TakeLast);
  CLI11_PARSE(app, argc, argv);

  std::vector<std::pair<std::string, Case>> selected;
  std::stringstream names(test_case);
  for (std::string name; std::getline(names, name, ',');) {
    if (name == "all") {
      selected.insert(selected.end(), kCases.begin(), kCases.end());
      continue;
    }
    auto found =
        std::find_if(kCases.begin(), kCases.end(), [&](auto& c) { return c.first == name; });
    if (found == kCases.end()) {
      std::cerr << "error: unknown test case \"" << name << "\"; give all or some of:";
      for (const auto& each : kCases) std::cerr << " " << each.first;
      std::cerr << "\n";
      return 2;
    }
    selected.push_back(*found);
  }

  std::shared_ptr<grpc::ChannelCredentials> credentials = grpc::InsecureChannelCredentials();
  grpc::ChannelArguments arguments;
  if (use_tls) {
    grpc::SslCredentialsOptions options;
    try {
      if (!ca_file.empty()) options.pem_root_certs = read_file(ca_file);
    } catch (const std::exception& e) {
      std::cerr << "error: --ca_file: " << e.what() << "\n";
      return 2;
    }
    credentials = grpc::SslCredentials(options);
    if (!host_override.empty()) arguments.SetSslTargetNameOverride(host_override);
  }
  auto channel =
      grpc::CreateCustomChannel(host + ":" + std::to_string(port), credentials, arguments);

  int failed = 0;
  for (const auto& [name, run] : selected) {
    Cases cases(channel, compression_probe);
    try {
      (cases.*run)();
      std::string skipped;
      for (const auto& each : cases.skipped) skipped += (skipped.empty() ? "" : "; ") + each;
      std::cout << "PASS " << name << (skipped.empty() ? "" : " (skipped: " + skipped + ")")
                << std::endl;
    } catch (const std::exception& e) {
      ++failed;
      std::cout << "FAIL " << name << ": " << e.what() << std::endl;
    }
  }
  return failed ? 1 : 0;
}
