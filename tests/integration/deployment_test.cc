// Deployment contracts: systemd's sd_notify and socket activation (with a fake NOTIFY_SOCKET and
// passed-in descriptors, no systemd needed), running as PID 1, and Ctrl-C in a terminal.
#include <arpa/inet.h>
#include <netinet/in.h>
#include <signal.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/un.h>
#include <unistd.h>

#include <catch2/catch.hpp>
#include <cstring>
#include <filesystem>

#include "harness.h"
#include "load.h"

using namespace gryphon::test;

namespace {

// A datagram socket standing in for systemd's notification socket.
class FakeNotifySocket {
 public:
  explicit FakeNotifySocket(const std::string& path) : path_(path) {
    fd_ = ::socket(AF_UNIX, SOCK_DGRAM | SOCK_CLOEXEC | SOCK_NONBLOCK, 0);
    sockaddr_un address{};
    address.sun_family = AF_UNIX;
    std::strncpy(address.sun_path, path.c_str(), sizeof(address.sun_path) - 1);
    REQUIRE(::bind(fd_, reinterpret_cast<sockaddr*>(&address), sizeof(address)) == 0);
  }
  ~FakeNotifySocket() { ::close(fd_); }
  // Every message received so far, in order.
  const std::vector<std::string>& messages() {
    char buffer[4096];
    ssize_t n;
    while ((n = ::recv(fd_, buffer, sizeof(buffer), 0)) > 0)
      messages_.emplace_back(buffer, static_cast<std::size_t>(n));
    return messages_;
  }
  bool saw(const std::string& needle, std::size_t from = 0) {
    const auto& all = messages();
    for (std::size_t i = from; i < all.size(); ++i) {
      if (all[i].find(needle) != std::string::npos) return true;
    }
    return false;
  }

 private:
  std::string path_;
  int fd_ = -1;
  std::vector<std::string> messages_;
};

std::vector<std::string> base_args() {
  return {"--listen",
          "127.0.0.1:0",
          "--workers",
          "2",
          "--metrics-address",
          "",
          "--max-connection-age",
          "1s",
          "--drain-delay",
          "200ms"};
}

}  // namespace

TEST_CASE("sd_notify: READY once ready, RELOADING then READY around HUP, STOPPING on TERM",
          "[deployment][systemd]") {
  TempDir dir;
  FakeNotifySocket notify(dir.file("notify"));
  ServerProcess server(binary_path("GRYPHON_DRILL_SERVER"), base_args(),
                       {{"NOTIFY_SOCKET", dir.file("notify")}});
  server.wait_ready();
  REQUIRE(wait_until([&] { return notify.saw("READY=1"); }, std::chrono::seconds(5)));
  const auto before_hup = notify.messages().size();
  server.signal(SIGHUP);
  REQUIRE(
      wait_until([&] { return notify.saw("READY=1", before_hup + 1); }, std::chrono::seconds(20)));
  CHECK(notify.messages()[before_hup].find("RELOADING=1") != std::string::npos);
  server.signal(SIGTERM);
  REQUIRE(wait_until([&] { return notify.saw("STOPPING=1"); }, std::chrono::seconds(5)));
  const auto code = server.wait_exit(std::chrono::seconds(20));
  REQUIRE(code.has_value());
  CHECK(*code == 0);
}

TEST_CASE(
    "sd_notify: a USR2 successor announces itself as MAINPID and the old master does not say "
    "STOPPING",
    "[deployment][systemd]") {
  TempDir dir;
  FakeNotifySocket notify(dir.file("notify"));
  ServerProcess server(binary_path("GRYPHON_DRILL_SERVER"), base_args(),
                       {{"NOTIFY_SOCKET", dir.file("notify")}});
  server.wait_ready();
  REQUIRE(wait_until([&] { return notify.saw("READY=1"); }, std::chrono::seconds(5)));
  server.signal(SIGUSR2);
  REQUIRE(wait_until([&] { return notify.saw("MAINPID="); }, std::chrono::seconds(15)));
  REQUIRE(server.wait_exit(std::chrono::seconds(20)).has_value());
  std::string mainpid;
  for (const auto& m : notify.messages()) {
    if (m.find("MAINPID=") != std::string::npos) mainpid = m.substr(m.find("MAINPID=") + 8);
  }
  const pid_t successor = std::stoi(mainpid);
  CHECK(successor != server.pid());
  CHECK(process_alive(successor));
  CHECK_FALSE(notify.saw("STOPPING=1"));
  ::kill(successor, SIGQUIT);
}

TEST_CASE("socket activation: the instance serves on the socket systemd passed",
          "[deployment][systemd]") {
  const int fd = ::socket(AF_INET, SOCK_STREAM, 0);  // no CLOEXEC: it is handed to the child
  sockaddr_in addr{};
  addr.sin_family = AF_INET;
  addr.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  REQUIRE(::bind(fd, reinterpret_cast<sockaddr*>(&addr), sizeof(addr)) == 0);
  REQUIRE(::listen(fd, 128) == 0);
  socklen_t len = sizeof(addr);
  ::getsockname(fd, reinterpret_cast<sockaddr*>(&addr), &len);
  const int port = ntohs(addr.sin_port);
  // LISTEN_PID must be the server's own pid: a shell sets it to its pid, then execs the server.
  std::vector<std::string> args{"-c",
                                "LISTEN_PID=$$ LISTEN_FDS=1 exec \"$0\" \"$@\"",
                                binary_path("GRYPHON_DRILL_SERVER"),
                                "--listen",
                                "127.0.0.1:1",
                                "--workers",
                                "2",
                                "--metrics-address",
                                ""};
  ServerProcess server("/bin/sh", args, {}, {fd});
  ::close(fd);
  const ReadyLine ready = server.wait_ready();
  INFO(server.log());
  CHECK(ready.listen == "127.0.0.1:" + std::to_string(port));
  CHECK(server.log().find("passed by systemd") != std::string::npos);
  CHECK(health_status("127.0.0.1:" + std::to_string(port)) == "SERVING");
}

TEST_CASE(
    "Ctrl-C in a terminal (INT to the whole process group) stops the instance once, gracefully",
    "[deployment][terminal]") {
  ServerProcess server(binary_path("GRYPHON_DRILL_SERVER"), base_args());
  server.wait_ready();
  LoadGenerator load({.target = server.target()});
  REQUIRE(load.warm_up(1000));
  ::kill(-server.pid(), SIGINT);  // what a terminal does: every process in the foreground group
  REQUIRE(wait_until([&] { return health_status(server.target()) == "NOT_SERVING"; },
                     std::chrono::seconds(3)));
  load.stop();
  const auto code = server.wait_exit(std::chrono::seconds(20));
  INFO(load.report() << "\n" << server.log());
  REQUIRE(code.has_value());
  CHECK(*code == 0);
  CHECK(load.failed() == 0);
  CHECK(server.log().find("killed by SIGINT") == std::string::npos);
  CHECK(server.count_in_log("stopping: workers go NOT_SERVING") == 1);
}

TEST_CASE("as PID 1 (a container's init) the master refuses USR2 and keeps serving",
          "[deployment][pid1]") {
  if (std::system("unshare --pid --fork --kill-child true 2>/dev/null") != 0) {
    WARN("cannot create a PID namespace here (unshare): skipped");
    return;
  }
  std::vector<std::string> args{"--pid", "--fork", "--kill-child",
                                binary_path("GRYPHON_DRILL_SERVER")};
  for (const auto& a : base_args()) args.push_back(a);
  ServerProcess server("/usr/bin/unshare", args);
  const ReadyLine ready = server.wait_ready();
  CHECK(ready.pid == 1);
  // Signal the master through the namespace: it is unshare's only child.
  const auto children = children_of(server.pid());
  REQUIRE(children.size() == 1);
  ::kill(children.front(), SIGUSR2);
  REQUIRE(server.wait_for_log("SIGUSR2 refused", std::chrono::seconds(5)));
  CHECK(health_status(server.target()) == "SERVING");
}

TEST_CASE(
    "a unix socket listener serves a sidecar with the configured permissions and is removed at "
    "stop",
    "[deployment][unix]") {
  TempDir dir;
  const std::string path = dir.file("grpc.sock");
  ServerProcess server(binary_path("GRYPHON_DRILL_SERVER"),
                       {"--listen", "127.0.0.1:0", "--listen", "unix:" + path, "--unix-socket-mode",
                        "0600", "--workers", "2", "--metrics-address", "", "--drain-delay", "0s"});
  server.wait_ready();
  struct stat st {};
  REQUIRE(::stat(path.c_str(), &st) == 0);
  CHECK(S_ISSOCK(st.st_mode));
  CHECK((st.st_mode & 0777) == 0600);
  CHECK(health_status("unix:" + path) == "SERVING");
  LoadGenerator load({.target = "unix:" + path, .connections = 4, .in_flight = 16});
  REQUIRE(load.warm_up(1000));
  load.stop();
  CHECK(load.failed() == 0);
  server.signal(SIGTERM);
  const auto code = server.wait_exit(std::chrono::seconds(20));
  REQUIRE(code.has_value());
  CHECK(*code == 0);
  CHECK_FALSE(std::filesystem::exists(path));
}
