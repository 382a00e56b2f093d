// gryphon::internal::PidFile: the master's pid file, written atomically, locked for the process's
// life, and removed on destruction only while it still holds this process's pid.
#include "os/pid_file.h"

#include <sys/wait.h>
#include <unistd.h>

#include <catch2/catch.hpp>

#include <filesystem>
#include <functional>
#include <stdexcept>
#include <string>

#include "test_support.h"

namespace gryphon::internal {
namespace {

using Catch::Matchers::Contains;
using testing::read_file;
using testing::TempDir;

std::string pid_line(pid_t pid) {
  return std::to_string(pid) + "\n";
}

struct ChildResult {
  pid_t pid = -1;
  int exit_code = -1;
};

// Runs `body` in a forked child and waits for it; the exit code is body's result, or 99 if it
// threw. The child leaves with _exit so that nothing of the test runner runs twice.
ChildResult run_in_child(const std::function<int()>& body) {
  const pid_t pid = ::fork();
  REQUIRE(pid >= 0);
  if (pid == 0) {
    int code = 99;
    try {
      code = body();
    } catch (...) {
    }
    ::_exit(code);
  }
  int status = 0;
  REQUIRE(::waitpid(pid, &status, 0) == pid);
  REQUIRE(WIFEXITED(status));
  return {pid, WEXITSTATUS(status)};
}

// A child process holding a PidFile on `path` until the object is destroyed.
class ChildHoldingPidFile {
 public:
  explicit ChildHoldingPidFile(const std::string& path) {
    int ready[2];
    int release[2];
    REQUIRE(::pipe(ready) == 0);
    REQUIRE(::pipe(release) == 0);
    pid_ = ::fork();
    REQUIRE(pid_ >= 0);
    if (pid_ == 0) {
      ::close(ready[0]);
      ::close(release[1]);
      int code = 0;
      try {
        PidFile held(path);
        (void)!::write(ready[1], "r", 1);
        char byte;
        (void)!::read(release[0], &byte, 1);  // returns at EOF, when the parent lets go
      } catch (...) {
        code = 1;
      }
      ::_exit(code);
    }
    ::close(ready[1]);
    ::close(release[0]);
    release_ = release[1];
    char byte = 0;
    const bool holding = ::read(ready[0], &byte, 1) == 1;
    ::close(ready[0]);
    REQUIRE(holding);
  }
  ~ChildHoldingPidFile() {
    ::close(release_);
    int status = 0;
    ::waitpid(pid_, &status, 0);
  }
  pid_t pid() const { return pid_; }

 private:
  pid_t pid_ = -1;
  int release_ = -1;
};

TEST_CASE("a pid file holds the pid of the process that created it") {
  TempDir dir;
  const std::string path = dir.file("gryphon.pid");
  PidFile pid_file(path);
  CHECK(read_file(path) == pid_line(::getpid()));
}

TEST_CASE("destroying a pid file removes it and leaves no temporary file behind") {
  TempDir dir;
  const std::string path = dir.file("gryphon.pid");
  { PidFile pid_file(path); }
  CHECK_FALSE(std::filesystem::exists(path));
  CHECK(std::filesystem::is_empty(dir.path()));
}

TEST_CASE("a pid file that now holds another pid is left in place on destruction") {
  TempDir dir;
  const std::string path = dir.file("gryphon.pid");
  {
    PidFile pid_file(path);
    dir.write("gryphon.pid", "1\n");  // a binary-upgrade successor wrote its own pid
  }
  CHECK(read_file(path) == "1\n");
}

TEST_CASE("a released pid file is left in place") {
  TempDir dir;
  const std::string path = dir.file("gryphon.pid");
  {
    PidFile pid_file(path);
    pid_file.release();
  }
  CHECK(read_file(path) == pid_line(::getpid()));
}

TEST_CASE("a stale pid file from an instance that is gone is replaced") {
  TempDir dir;
  const std::string path = dir.write("gryphon.pid", "999999\n");
  PidFile pid_file(path);
  CHECK(read_file(path) == pid_line(::getpid()));
}

TEST_CASE(
    "a pid file held by a running instance is refused, naming the file and the holder's pid") {
  TempDir dir;
  const std::string path = dir.file("gryphon.pid");
  ChildHoldingPidFile holder(path);
  REQUIRE(read_file(path) == pid_line(holder.pid()));
  CHECK_THROWS_AS(PidFile(path), std::runtime_error);
  CHECK_THROWS_WITH(PidFile(path),
                    Contains(path) && Contains("pid " + std::to_string(holder.pid())));
  CHECK(read_file(path) == pid_line(holder.pid()));
}

TEST_CASE("the process holding a pid file cannot open it a second time") {
  TempDir dir;
  const std::string path = dir.file("gryphon.pid");
  PidFile first(path);
  CHECK_THROWS_WITH(PidFile(path), Contains(path));
  CHECK(read_file(path) == pid_line(::getpid()));
}

TEST_CASE("a child of the holder may take the pid file over, as a binary upgrade does") {
  TempDir dir;
  const std::string path = dir.file("gryphon.pid");
  PidFile parent_file(path);
  const ChildResult child = run_in_child([&] {
    PidFile successor(path);
    successor.release();  // keep the file, as a successor that goes on serving would
    return 0;
  });
  CHECK(child.exit_code == 0);
  CHECK(read_file(path) == pid_line(child.pid));
}

TEST_CASE("a pid file in a directory that does not exist is refused, naming the path") {
  TempDir dir;
  const std::string path = dir.file("missing/gryphon.pid");
  CHECK_THROWS_AS(PidFile(path), std::runtime_error);
  CHECK_THROWS_WITH(PidFile(path), Contains(dir.file("missing/")) && Contains("--pid-file"));
}

}  // namespace
}  // namespace gryphon::internal
