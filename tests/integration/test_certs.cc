#include "test_certs.h"

#include <catch2/catch.hpp>
#include <cstdlib>
#include <fstream>

namespace gryphon::test {
namespace {

void run_openssl(const std::string& command) {
  INFO(command);
  REQUIRE(std::system((command + " >/dev/null 2>&1").c_str()) == 0);
}

}  // namespace

void make_ca(const TempDir& dir, const std::string& ca) {
  run_openssl("openssl req -x509 -newkey rsa:2048 -nodes -days 2 -subj /CN=" + ca + " -keyout " +
              dir.file(ca + ".key") + " -out " + dir.file(ca + ".pem"));
}

void make_cert(const TempDir& dir, const std::string& ca, const std::string& name) {
  std::ofstream(dir.file(name + ".ext")) << "subjectAltName=DNS:localhost,IP:127.0.0.1\n";
  run_openssl("openssl req -newkey rsa:2048 -nodes -subj /CN=localhost -keyout " +
              dir.file(name + ".key") + " -out " + dir.file(name + ".csr"));
  run_openssl("openssl x509 -req -days 2 -in " + dir.file(name + ".csr") + " -CA " +
              dir.file(ca + ".pem") + " -CAkey " + dir.file(ca + ".key") +
              " -CAcreateserial -extfile " + dir.file(name + ".ext") + " -out " +
              dir.file(name + ".pem"));
}

}  // namespace gryphon::test
