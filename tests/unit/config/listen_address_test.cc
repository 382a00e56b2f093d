// gryphon::internal::ListenAddress: parsing of one --listen value and its canonical text.
#include "config/listen_address.h"

#include <sys/un.h>

#include <catch2/catch.hpp>

#include <stdexcept>
#include <string>

namespace gryphon::internal {
namespace {

using Catch::Matchers::Contains;

TEST_CASE("host:port is a TCP address with that host and port") {
  const ListenAddress address = ListenAddress::parse("127.0.0.1:50051");
  CHECK(address.kind == ListenAddress::Kind::kTcp);
  CHECK_FALSE(address.is_unix());
  CHECK(address.host == "127.0.0.1");
  CHECK(address.port == 50051);
  CHECK(address.to_string() == "127.0.0.1:50051");
}

TEST_CASE("a host name is kept as written for the resolver") {
  const ListenAddress address = ListenAddress::parse("localhost:8080");
  CHECK(address.host == "localhost");
  CHECK(address.port == 8080);
}

TEST_CASE("port 0 and port 65535 are both accepted") {
  CHECK(ListenAddress::parse("0.0.0.0:0").port == 0);
  CHECK(ListenAddress::parse("0.0.0.0:65535").port == 65535);
}

TEST_CASE("[v6]:port is a TCP address whose host has no brackets, and prints with them") {
  const ListenAddress address = ListenAddress::parse("[::1]:50051");
  CHECK(address.kind == ListenAddress::Kind::kTcp);
  CHECK(address.host == "::1");
  CHECK(address.port == 50051);
  CHECK(address.to_string() == "[::1]:50051");
  CHECK(ListenAddress::parse("[::]:0").to_string() == "[::]:0");
}

TEST_CASE("unix:/path is a unix socket address with that path") {
  const ListenAddress address = ListenAddress::parse("unix:/run/app.sock");
  CHECK(address.kind == ListenAddress::Kind::kUnix);
  CHECK(address.is_unix());
  CHECK(address.path == "/run/app.sock");
  CHECK(address.to_string() == "unix:/run/app.sock");
}

TEST_CASE("an address without a port is refused, naming the address") {
  CHECK_THROWS_AS(ListenAddress::parse("127.0.0.1"), std::invalid_argument);
  CHECK_THROWS_WITH(ListenAddress::parse("127.0.0.1"),
                    Contains("'127.0.0.1'") && Contains("no port"));
  CHECK_THROWS_WITH(ListenAddress::parse("127.0.0.1:"), Contains("port"));
  CHECK_THROWS_WITH(ListenAddress::parse("[::1]:"), Contains("port"));
}

TEST_CASE("an address without a host is refused") {
  CHECK_THROWS_WITH(ListenAddress::parse(":50051"), Contains("no host"));
  CHECK_THROWS_AS(ListenAddress::parse("[]:50051"), std::invalid_argument);
}

TEST_CASE("an IPv6 address without brackets is refused, suggesting the bracketed form") {
  CHECK_THROWS_AS(ListenAddress::parse("::1:50051"), std::invalid_argument);
  CHECK_THROWS_WITH(ListenAddress::parse("::1:50051"), Contains("brackets"));
  CHECK_THROWS_WITH(ListenAddress::parse("[::1]50051"), Contains("[ipv6]:port"));
  CHECK_THROWS_WITH(ListenAddress::parse("[::1"), Contains("[ipv6]:port"));
}

TEST_CASE("a port that is not a number from 0 to 65535 is refused, naming the port") {
  for (const std::string port : {"65536", "99999999999999999999", "-1", "http", "50051x", " 1"}) {
    INFO("port '" << port << "'");
    CHECK_THROWS_AS(ListenAddress::parse("127.0.0.1:" + port), std::invalid_argument);
    CHECK_THROWS_WITH(ListenAddress::parse("127.0.0.1:" + port), Contains("port '" + port + "'"));
  }
  CHECK_THROWS_WITH(ListenAddress::parse("[::1]:65536"), Contains("65536"));
}

TEST_CASE("a unix socket path that does not fit in sockaddr_un is refused, naming the limit") {
  const std::size_t limit = sizeof(sockaddr_un::sun_path) - 1;
  const std::string fits = "/" + std::string(limit - 1, 'a');
  const std::string too_long = fits + "a";
  CHECK(ListenAddress::parse("unix:" + fits).path == fits);
  CHECK_THROWS_AS(ListenAddress::parse("unix:" + too_long), std::invalid_argument);
  CHECK_THROWS_WITH(ListenAddress::parse("unix:" + too_long),
                    Contains(std::to_string(limit) + " bytes"));
}

TEST_CASE("unix: without a path is refused") {
  CHECK_THROWS_AS(ListenAddress::parse("unix:"), std::invalid_argument);
  CHECK_THROWS_WITH(ListenAddress::parse("unix:"), Contains("no socket path"));
}

}  // namespace
}  // namespace gryphon::internal
