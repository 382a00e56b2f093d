// TLS drills: certificates checked by the master before anything starts, TLS and mutual TLS
// (required and optional) on the wire, plaintext refused cleanly, stalled handshakes closed, and
// certificates re-read by a rolling restart (HUP).
#include <signal.h>

#include <catch2/catch.hpp>
#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <iostream>

#include <grpcpp/grpcpp.h>

#include "greeter.grpc.pb.h"
#include "harness.h"
#include "raw_http2.h"
#include "test_certs.h"

using namespace gryphon::test;

namespace {

grpc::Status say_hello(const std::string& target,
                       std::shared_ptr<grpc::ChannelCredentials> credentials) {
  grpc::ChannelArguments args;
  args.SetInt("gryphon.test.unique", std::rand());
  auto stub = helloworld::Greeter::NewStub(grpc::CreateCustomChannel(target, credentials, args));
  grpc::ClientContext context;
  context.set_deadline(std::chrono::system_clock::now() + std::chrono::seconds(3));
  helloworld::HelloRequest request;
  request.set_name("tls");
  helloworld::HelloReply reply;
  grpc::Status status = stub->SayHello(&context, request, &reply);
  if (status.ok() && reply.message() != "Hello tls")
    return grpc::Status(grpc::StatusCode::INTERNAL, "wrong reply");
  return status;
}

std::shared_ptr<grpc::ChannelCredentials> tls_client(const TempDir& dir, const std::string& ca,
                                                     const std::string& client_cert = "") {
  grpc::SslCredentialsOptions options;
  options.pem_root_certs = read_file(dir.file(ca + ".pem"));
  if (!client_cert.empty()) {
    options.pem_private_key = read_file(dir.file(client_cert + ".key"));
    options.pem_cert_chain = read_file(dir.file(client_cert + ".pem"));
  }
  return grpc::SslCredentials(options);
}

std::string localhost(const std::string& target) {
  return "localhost" + target.substr(target.rfind(':'));
}

// One worker serving TLS with the certificate "server", verifying clients against "ca" as
// --tls-client-auth `mode` says.
std::vector<std::string> client_auth_args(const TempDir& dir, const std::string& mode) {
  return {"--listen",          "127.0.0.1:0",
          "--workers",         "1",
          "--metrics-address", "",
          "--tls-cert",        dir.file("server.pem"),
          "--tls-key",         dir.file("server.key"),
          "--tls-client-ca",   dir.file("ca.pem"),
          "--tls-client-auth", mode};
}

}  // namespace

TEST_CASE("TLS serves TLS clients and refuses plaintext ones cleanly", "[tls]") {
  TempDir dir;
  make_ca(dir, "ca");
  make_cert(dir, "ca", "server");
  ServerProcess server(binary_path("GRYPHON_DRILL_SERVER"),
                       {"--listen", "127.0.0.1:0", "--workers", "2", "--metrics-address", "",
                        "--tls-cert", dir.file("server.pem"), "--tls-key", dir.file("server.key")});
  server.wait_ready();
  const std::string target = localhost(server.target());
  CHECK(say_hello(target, tls_client(dir, "ca")).ok());
  const grpc::Status plaintext = say_hello(target, grpc::InsecureChannelCredentials());
  CHECK(plaintext.error_code() == grpc::StatusCode::UNAVAILABLE);
  CHECK(say_hello(target, tls_client(dir, "ca")).ok());  // the workers are unharmed
  CHECK(children_of(server.pid()).size() == 2);
}

TEST_CASE("mutual TLS refuses a client without a certificate and serves one with it", "[tls]") {
  TempDir dir;
  make_ca(dir, "ca");
  make_cert(dir, "ca", "server");
  make_cert(dir, "ca", "client");
  ServerProcess server(binary_path("GRYPHON_DRILL_SERVER"), client_auth_args(dir, "require"));
  server.wait_ready();
  const std::string target = localhost(server.target());
  CHECK_FALSE(say_hello(target, tls_client(dir, "ca")).ok());
  CHECK(say_hello(target, tls_client(dir, "ca", "client")).ok());
}

TEST_CASE("optional client auth serves clients with or without a certificate, not a bad one",
          "[tls]") {
  TempDir dir;
  make_ca(dir, "ca");
  make_ca(dir, "stranger");
  make_cert(dir, "ca", "server");
  make_cert(dir, "ca", "client");
  make_cert(dir, "stranger", "forged");  // a client certificate the server's CA did not sign
  ServerProcess server(binary_path("GRYPHON_DRILL_SERVER"), client_auth_args(dir, "optional"));
  server.wait_ready();
  const std::string target = localhost(server.target());
  CHECK(say_hello(target, tls_client(dir, "ca")).ok());
  CHECK(say_hello(target, tls_client(dir, "ca", "client")).ok());
  const grpc::Status forged = say_hello(target, tls_client(dir, "ca", "forged"));
  INFO(forged.error_message());
  CHECK(forged.error_code() == grpc::StatusCode::UNAVAILABLE);
  CHECK(say_hello(target, tls_client(dir, "ca")).ok());  // the worker is unharmed
}

TEST_CASE("TLS handshakes that stall are closed after --handshake-timeout; TLS clients are served",
          "[tls]") {
  TempDir dir;
  make_ca(dir, "ca");
  make_cert(dir, "ca", "server");
  ServerProcess server(
      binary_path("GRYPHON_DRILL_SERVER"),
      {"--listen", "127.0.0.1:0", "--workers", "1", "--metrics-address", "", "--tls-cert",
       dir.file("server.pem"), "--tls-key", dir.file("server.key"), "--handshake-timeout", "1s"});
  server.wait_ready();
  const std::string target = localhost(server.target());
  // Five send nothing; five send the first 9 bytes of a ClientHello record and stop.
  const std::string hello_start("\x16\x03\x01\x02\x00\x01\x00\x01\xfc", 9);
  std::vector<std::unique_ptr<http2::RawConnection>> stalled;
  const auto opened = std::chrono::steady_clock::now();
  for (int i = 0; i < 10; ++i) {
    stalled.push_back(std::make_unique<http2::RawConnection>(server.target()));
    REQUIRE(stalled.back()->connected());
    if (i >= 5) stalled.back()->send(hello_start);
  }
  CHECK(say_hello(target, tls_client(dir, "ca")).ok());  // served while they stall
  long last = 0;
  int closed = 0;
  for (auto& connection : stalled) {
    const auto left = std::chrono::milliseconds(8000) - (std::chrono::steady_clock::now() - opened);
    if (connection->wait_closed(std::chrono::duration_cast<std::chrono::milliseconds>(left))) {
      ++closed;
      last = std::chrono::duration_cast<std::chrono::milliseconds>(
                 std::chrono::steady_clock::now() - opened)
                 .count();
    }
  }
  std::cout << "TLS handshake stall: " << closed << " of 10 closed, the last after " << last
            << "ms (--handshake-timeout 1s)\n";
  CHECK(closed == 10);
  CHECK(last >= 900);  // the timeout closed them, not their input
  CHECK(say_hello(target, tls_client(dir, "ca")).ok());
}

TEST_CASE("bad certificate files stop the start with exit 2 and say what is wrong", "[tls]") {
  TempDir dir;
  make_ca(dir, "ca");
  make_cert(dir, "ca", "server");
  make_cert(dir, "ca", "other");
  std::ofstream(dir.file("garbage.pem"))
      << "-----BEGIN CERTIFICATE-----\nnot base64 at all\n-----END CERTIFICATE-----\n";
  struct Case {
    std::vector<std::string> args;
    std::string says;
  };
  const std::vector<Case> cases{
      {{"--tls-cert", dir.file("garbage.pem"), "--tls-key", dir.file("server.key")}, "--tls-cert"},
      {{"--tls-cert", dir.file("server.pem"), "--tls-key", dir.file("other.key")},
       "does not match"},
      {{"--tls-cert", dir.file("missing.pem"), "--tls-key", dir.file("server.key")}, "cannot read"},
      {{"--tls-cert", dir.file("server.pem")}, "--tls-key"},
  };
  for (const auto& c : cases) {
    std::vector<std::string> args{"--listen", "127.0.0.1:0",       "--workers",
                                  "1",        "--metrics-address", ""};
    args.insert(args.end(), c.args.begin(), c.args.end());
    ServerProcess server(binary_path("GRYPHON_DRILL_SERVER"), args);
    const auto code = server.wait_exit(std::chrono::seconds(10));
    INFO(server.log());
    REQUIRE(code.has_value());
    CHECK(*code == 2);
    CHECK(server.log().find(c.says) != std::string::npos);
  }
}

TEST_CASE("a certificate replaced on disk is served after HUP; a broken one keeps the old",
          "[tls]") {
  TempDir dir;
  make_ca(dir, "ca");
  make_ca(dir, "ca2");
  make_cert(dir, "ca", "server");
  make_cert(dir, "ca2", "renewed");
  const std::string cert = dir.file("live.pem"), key = dir.file("live.key");
  std::filesystem::copy_file(dir.file("server.pem"), cert);
  std::filesystem::copy_file(dir.file("server.key"), key);
  ServerProcess server(binary_path("GRYPHON_DRILL_SERVER"),
                       {"--listen", "127.0.0.1:0", "--workers", "2", "--metrics-address", "",
                        "--tls-cert", cert, "--tls-key", key, "--max-connection-age", "500ms"});
  server.wait_ready();
  const std::string target = localhost(server.target());
  REQUIRE(say_hello(target, tls_client(dir, "ca")).ok());

  // A broken certificate: the restart goes ahead with the certificates already loaded.
  std::ofstream(cert, std::ios::trunc) << "broken\n";
  auto mark = server.log_size();
  server.signal(SIGHUP);
  REQUIRE(server.wait_for_log("rolling restart complete", std::chrono::seconds(20), mark));
  CHECK(server.log().find("keeping the current configuration", mark) != std::string::npos);
  CHECK(say_hello(target, tls_client(dir, "ca")).ok());

  // A renewed certificate from another CA: after HUP only clients trusting that CA connect.
  std::filesystem::copy_file(dir.file("renewed.pem"), cert,
                             std::filesystem::copy_options::overwrite_existing);
  std::filesystem::copy_file(dir.file("renewed.key"), key,
                             std::filesystem::copy_options::overwrite_existing);
  CHECK_FALSE(say_hello(target, tls_client(dir, "ca2")).ok());
  mark = server.log_size();
  server.signal(SIGHUP);
  REQUIRE(server.wait_for_log("rolling restart complete", std::chrono::seconds(20), mark));
  INFO(server.log());
  CHECK(say_hello(target, tls_client(dir, "ca2")).ok());
  CHECK_FALSE(say_hello(target, tls_client(dir, "ca")).ok());
}
