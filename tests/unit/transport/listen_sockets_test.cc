// gryphon::internal::bind_listener, adopt_listeners and describe_for_inheritance: the master's
// listening sockets. Every test binds loopback port 0 or a unix socket in a private directory.
#include "transport/listen_sockets.h"

#include <fcntl.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/un.h>
#include <unistd.h>

#include <catch2/catch.hpp>

#include <cerrno>
#include <cstring>
#include <stdexcept>
#include <string>
#include <vector>

#include "test_support.h"

namespace gryphon::internal {
namespace {

using Catch::Matchers::Contains;
using testing::TempDir;

// Closes the sockets a test bound, whatever the outcome.
struct Listeners {
  std::vector<ListenSocket> sockets;
  ~Listeners() { close_listeners(sockets); }
  const ListenSocket& add(ListenSocket s) {
    sockets.push_back(std::move(s));
    return sockets.back();
  }
};

int socket_option(int fd, int name) {
  int value = -1;
  socklen_t len = sizeof(value);
  REQUIRE(::getsockopt(fd, SOL_SOCKET, name, &value, &len) == 0);
  return value;
}

bool fd_is_open(int fd) {
  return ::fcntl(fd, F_GETFD) != -1 || errno != EBADF;
}

// A unix socket bound at `path` and closed without unlinking: what a killed server leaves behind.
void leave_stale_unix_socket(const std::string& path) {
  const int fd = ::socket(AF_UNIX, SOCK_STREAM, 0);
  REQUIRE(fd >= 0);
  sockaddr_un sun{};
  sun.sun_family = AF_UNIX;
  std::strncpy(sun.sun_path, path.c_str(), sizeof(sun.sun_path) - 1);
  REQUIRE(::bind(fd, reinterpret_cast<sockaddr*>(&sun), sizeof(sun)) == 0);
  ::close(fd);
}

TEST_CASE("listening on port 0 gets a real port, reported in bound but not in configured") {
  Listeners l;
  const ListenSocket& s = l.add(bind_listener("127.0.0.1:0", 0660));
  CHECK(s.configured == "127.0.0.1:0");
  CHECK(s.bound.host == "127.0.0.1");
  CHECK(s.bound.port != 0);
  CHECK(socket_option(s.fd, SO_ACCEPTCONN) == 1);
}

TEST_CASE("an IPv6 loopback listener reports its real port") {
  Listeners l;
  const ListenSocket& s = l.add(bind_listener("[::1]:0", 0660));
  CHECK(s.bound.host == "::1");
  CHECK(s.bound.port != 0);
  CHECK(s.bound.to_string() == "[::1]:" + std::to_string(s.bound.port));
}

TEST_CASE("listening sockets are non-blocking, close-on-exec and never SO_REUSEPORT") {
  Listeners l;
  const ListenSocket& s = l.add(bind_listener("127.0.0.1:0", 0660));
  CHECK((::fcntl(s.fd, F_GETFL) & O_NONBLOCK) != 0);
  CHECK((::fcntl(s.fd, F_GETFD) & FD_CLOEXEC) != 0);
  CHECK(socket_option(s.fd, SO_REUSEPORT) == 0);
}

TEST_CASE("a second listener on a port in use fails with 'already in use', naming the address") {
  Listeners l;
  const ListenSocket& first = l.add(bind_listener("127.0.0.1:0", 0660));
  const std::string taken = "127.0.0.1:" + std::to_string(first.bound.port);
  CHECK_THROWS_AS(bind_listener(taken, 0660), std::runtime_error);
  CHECK_THROWS_WITH(bind_listener(taken, 0660), Contains(taken) && Contains("already in use"));
}

TEST_CASE("a unix listener gets the configured file mode") {
  TempDir dir;
  Listeners l;
  const std::string path = dir.file("app.sock");
  const ListenSocket& s = l.add(bind_listener("unix:" + path, 0600));
  CHECK(s.bound.is_unix());
  CHECK(s.bound.path == path);
  struct stat st {};
  REQUIRE(::lstat(path.c_str(), &st) == 0);
  CHECK(S_ISSOCK(st.st_mode));
  CHECK((st.st_mode & 0777) == 0600);
}

TEST_CASE("a stale unix socket file left by a dead server is replaced") {
  TempDir dir;
  Listeners l;
  const std::string path = dir.file("app.sock");
  leave_stale_unix_socket(path);
  const ListenSocket& s = l.add(bind_listener("unix:" + path, 0660));
  CHECK(socket_option(s.fd, SO_ACCEPTCONN) == 1);
}

TEST_CASE(
    "a unix socket with a live server on it is refused with 'already in use' and left alone") {
  TempDir dir;
  Listeners l;
  const std::string path = dir.file("app.sock");
  l.add(bind_listener("unix:" + path, 0660));
  CHECK_THROWS_WITH(bind_listener("unix:" + path, 0660),
                    Contains("unix:" + path) && Contains("already in use"));
  struct stat st {};
  CHECK(::lstat(path.c_str(), &st) == 0);
}

TEST_CASE("a unix path that exists and is not a socket is refused and left alone") {
  TempDir dir;
  const std::string path = dir.write("app.sock", "precious data");
  CHECK_THROWS_AS(bind_listener("unix:" + path, 0660), std::runtime_error);
  CHECK_THROWS_WITH(bind_listener("unix:" + path, 0660),
                    Contains(path) && Contains("not a socket"));
  CHECK(testing::read_file(path) == "precious data");
}

TEST_CASE("inheritance is described as configured=fd pairs separated by semicolons") {
  std::vector<ListenSocket> sockets{
      ListenSocket{"127.0.0.1:0", ListenAddress::parse("127.0.0.1:40000"), 7},
      ListenSocket{"unix:/tmp/a.sock", ListenAddress::parse("unix:/tmp/a.sock"), 9},
  };
  CHECK(describe_for_inheritance(sockets) == "127.0.0.1:0=7;unix:/tmp/a.sock=9");
  CHECK(describe_for_inheritance({}).empty());
}

TEST_CASE("adopt_listeners reuses an inherited socket for a matching address and binds the rest") {
  TempDir dir;
  Listeners inherited;
  const ListenSocket old = inherited.add(bind_listener("127.0.0.1:0", 0660));
  const std::string description = describe_for_inheritance(inherited.sockets);

  Listeners adopted;
  const std::string unix_address = "unix:" + dir.file("new.sock");
  adopted.sockets = adopt_listeners({"127.0.0.1:0", unix_address}, 0660, description.c_str());
  inherited.sockets.clear();  // now owned by `adopted`

  REQUIRE(adopted.sockets.size() == 2);
  CHECK(adopted.sockets[0].configured == "127.0.0.1:0");
  CHECK(adopted.sockets[0].fd == old.fd);
  CHECK(adopted.sockets[0].bound.port == old.bound.port);
  CHECK(adopted.sockets[1].configured == unix_address);
  CHECK(adopted.sockets[1].fd != old.fd);
  CHECK(socket_option(adopted.sockets[1].fd, SO_ACCEPTCONN) == 1);
}

TEST_CASE("an adopted socket is made close-on-exec again") {
  Listeners l;
  const ListenSocket& s = l.add(bind_listener("127.0.0.1:0", 0660));
  REQUIRE(::fcntl(s.fd, F_SETFD, 0) == 0);  // as it arrives across exec
  const std::string description = describe_for_inheritance(l.sockets);
  const std::vector<ListenSocket> adopted =
      adopt_listeners({"127.0.0.1:0"}, 0660, description.c_str());
  REQUIRE(adopted.size() == 1);
  CHECK(adopted[0].fd == s.fd);
  CHECK((::fcntl(s.fd, F_GETFD) & FD_CLOEXEC) != 0);
}

TEST_CASE("an inherited socket that is no longer configured is closed") {
  Listeners inherited;
  const int old_fd = inherited.add(bind_listener("127.0.0.1:0", 0660)).fd;
  const std::string description = describe_for_inheritance(inherited.sockets);
  inherited.sockets.clear();  // handed over to adopt_listeners
  const std::vector<ListenSocket> adopted = adopt_listeners({}, 0660, description.c_str());
  CHECK(adopted.empty());
  CHECK_FALSE(fd_is_open(old_fd));
}

TEST_CASE("without inherited sockets adopt_listeners binds every address") {
  Listeners adopted;
  adopted.sockets = adopt_listeners({"127.0.0.1:0", "127.0.0.1:0"}, 0660, nullptr);
  REQUIRE(adopted.sockets.size() == 2);
  CHECK(adopted.sockets[0].bound.port != adopted.sockets[1].bound.port);
}

TEST_CASE("when one address cannot be bound, adopt_listeners throws and closes what it adopted") {
  Listeners inherited;
  const ListenSocket old = inherited.add(bind_listener("127.0.0.1:0", 0660));
  Listeners busy;
  const ListenSocket& taken = busy.add(bind_listener("127.0.0.1:0", 0660));
  const std::string description = describe_for_inheritance(inherited.sockets);
  const std::string taken_address = "127.0.0.1:" + std::to_string(taken.bound.port);
  CHECK_THROWS_WITH(adopt_listeners({"127.0.0.1:0", taken_address}, 0660, description.c_str()),
                    Contains("already in use"));
  inherited.sockets.clear();  // handed over to adopt_listeners
  CHECK_FALSE(fd_is_open(old.fd));
}

}  // namespace
}  // namespace gryphon::internal
