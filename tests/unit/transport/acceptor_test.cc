// Acceptor: its soft cap on connections per worker (how long a worker at the cap defers its
// accept), and that it accepts real connections from a listening socket and hands them on.
#include "transport/acceptor.h"

#include <arpa/inet.h>
#include <netinet/in.h>
#include <sys/socket.h>
#include <unistd.h>

#include <catch2/catch.hpp>

namespace gryphon::internal {
namespace {

using std::chrono::milliseconds;

TEST_CASE("below the cap, or with no cap, a worker accepts at once") {
  CHECK(Acceptor::deferral(0, 0) == milliseconds(0));
  CHECK(Acceptor::deferral(1000, 0) == milliseconds(0));
  CHECK(Acceptor::deferral(3, 4) == milliseconds(0));
}

TEST_CASE("at and over the cap it defers 50 ms per connection over, at most 250 ms") {
  CHECK(Acceptor::deferral(4, 4) == milliseconds(50));
  CHECK(Acceptor::deferral(5, 4) == milliseconds(100));
  CHECK(Acceptor::deferral(8, 4) == milliseconds(250));
  CHECK(Acceptor::deferral(500, 4) == milliseconds(250));
}

TEST_CASE("connections to the listening socket are accepted and handed over") {
  const ListenSocket listener = bind_listener("127.0.0.1:0", 0660);
  boost::asio::io_context io;
  std::vector<int> accepted;
  Acceptor acceptor(
      io, {listener}, 1, [&] { return accepted.size(); },
      [&](int fd, bool tcp) {
        CHECK(tcp);
        accepted.push_back(fd);
        if (accepted.size() == 3) io.stop();
      });
  acceptor.start();
  std::vector<int> clients;
  for (int i = 0; i < 3; ++i) {
    const int fd = ::socket(AF_INET, SOCK_STREAM, 0);
    sockaddr_in addr{};
    addr.sin_family = AF_INET;
    addr.sin_port = htons(static_cast<std::uint16_t>(listener.bound.port));
    addr.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    REQUIRE(::connect(fd, reinterpret_cast<sockaddr*>(&addr), sizeof(addr)) == 0);
    clients.push_back(fd);
  }
  io.run_for(std::chrono::seconds(5));  // two of the three wait out the soft cap first
  CHECK(accepted.size() == 3);
  acceptor.stop();
  for (int fd : accepted) ::close(fd);
  for (int fd : clients) ::close(fd);
  ::close(listener.fd);
}

}  // namespace
}  // namespace gryphon::internal
