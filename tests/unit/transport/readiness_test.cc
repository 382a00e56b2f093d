// The readiness probe's client (transport/readiness.h) against peers that fail it: a transport
// that closes the connection, one that never answers, one that answers garbage. The passing path
// runs at every worker start in every integration test.
#include "transport/readiness.h"

#include <sys/socket.h>
#include <unistd.h>

#include <catch2/catch.hpp>
#include <chrono>
#include <string>
#include <thread>

namespace gryphon::internal {
namespace {

using namespace std::chrono_literals;

TEST_CASE("a transport that closes the probe's connection fails readiness, saying so") {
  std::string error;
  const bool ready = check_readiness([](int fd) { ::close(fd); }, 2000ms, &error);
  CHECK_FALSE(ready);
  CHECK(error.find("closed the connection before answering") != std::string::npos);
}

TEST_CASE("a transport that never answers fails readiness at the timeout") {
  int kept = -1;
  std::string error;
  const auto started = std::chrono::steady_clock::now();
  const bool ready = check_readiness([&](int fd) { kept = fd; }, 300ms, &error);
  const auto took = std::chrono::steady_clock::now() - started;
  ::close(kept);
  CHECK_FALSE(ready);
  CHECK(error.find("no answer in time") != std::string::npos);
  CHECK(took >= 300ms);
}

TEST_CASE("a peer that does not speak HTTP/2 fails readiness") {
  std::thread peer;
  std::string error;
  const bool ready = check_readiness(
      [&](int fd) {
        peer = std::thread([fd] {
          const std::string http1 = "HTTP/1.1 400 Bad Request\r\nContent-Length: 0\r\n\r\n";
          (void)::send(fd, http1.data(), http1.size(), MSG_NOSIGNAL);
          std::this_thread::sleep_for(200ms);
          ::close(fd);
        });
      },
      2000ms, &error);
  peer.join();
  CHECK_FALSE(ready);
  INFO(error);
  CHECK((error.find("not valid HTTP/2") != std::string::npos ||
         error.find("closed the connection") != std::string::npos));
}

}  // namespace
}  // namespace gryphon::internal
