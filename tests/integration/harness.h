// Test harness for the process drills: start a real gryphon server binary, read its log, send it
// signals, scrape its /metrics, and probe grpc.health.v1 — always waiting on conditions with
// deadlines, never sleeping and hoping.
#pragma once

#include <sys/types.h>

#include <chrono>
#include <functional>
#include <map>
#include <optional>
#include <string>
#include <vector>

namespace gryphon::test {

using Millis = std::chrono::milliseconds;

// Polls `condition` every few milliseconds until it holds or `timeout` passes.
bool wait_until(const std::function<bool()>& condition, Millis timeout,
                Millis interval = Millis(10));

// A directory under /tmp removed (recursively) on destruction.
class TempDir {
 public:
  TempDir();
  ~TempDir();
  const std::string& path() const { return path_; }
  std::string file(const std::string& name) const { return path_ + "/" + name; }

 private:
  std::string path_;
};

// What the master's "ready listen=… metrics=… workers=N pid=…" line says.
struct ReadyLine {
  std::string listen;   // first listen address, e.g. "127.0.0.1:41234"
  std::string metrics;  // "127.0.0.1:41235" or "off"
  int workers = 0;
  pid_t pid = 0;
  std::string transport;  // "native" or "grpc"
};

class ServerProcess {
 public:
  // Starts `binary` with `args` (its log goes to a file in a fresh temp dir) and `env` added;
  // `pass_fds` become the child's descriptors 3, 4, ... (as systemd passes sockets).
  ServerProcess(const std::string& binary, std::vector<std::string> args,
                std::map<std::string, std::string> env = {}, std::vector<int> pass_fds = {});
  ~ServerProcess();  // kills whatever is left of the process group
  ServerProcess(const ServerProcess&) = delete;
  ServerProcess& operator=(const ServerProcess&) = delete;

  // Waits for the ready line; on timeout or early exit fails the test with the log.
  ReadyLine wait_ready(Millis timeout = Millis(30000));
  // Waits until the log contains `needle` (searching from byte `from`).
  bool wait_for_log(const std::string& needle, Millis timeout, std::size_t from = 0) const;
  std::string log() const;
  std::size_t log_size() const { return log().size(); }
  // Counts occurrences of `needle` in the log.
  int count_in_log(const std::string& needle) const;

  void signal(int sig) const;
  // The exit code (or 128+signal) once the process has exited, within `timeout`.
  std::optional<int> wait_exit(Millis timeout);
  pid_t pid() const { return pid_; }
  const std::string& target() const { return ready_.listen; }
  const ReadyLine& ready() const { return ready_; }
  const TempDir& dir() const { return dir_; }

 private:
  TempDir dir_;
  std::string log_path_;
  pid_t pid_ = 0;
  bool exited_ = false;
  int exit_code_ = -1;
  ReadyLine ready_;
  std::string expected_transport_ = "native";  // what the ready line must name
};

// The whole content of a file ("" if it can't be read).
std::string read_file(const std::string& path);
// One access-log line parsed back into its fields ("grpc.code" -> "OK"), for each
// --access-log-format (text, json, ltsv).
std::map<std::string, std::string> access_log_fields(const std::string& line,
                                                     const std::string& format);

// Worker pids by slot, from the master's "worker[N] pid=P ready" lines (the latest wins).
std::map<int, pid_t> ready_workers(const ServerProcess& server);

// Children of `pid` (from /proc), e.g. a master's workers.
std::vector<pid_t> children_of(pid_t pid);
// Number of threads of `pid`.
int thread_count(pid_t pid);
// Threads of the process whose name (/proc/<pid>/task/<tid>/comm) starts with the prefix.
int threads_named(pid_t pid, const std::string& prefix);
bool process_alive(pid_t pid);

// One HTTP/1.1 GET against host:port; returns the body ("" on failure).
std::string http_get(const std::string& host_port, const std::string& path);

// Parses Prometheus text: "name{labels}" -> value; "name" alone for unlabelled samples; and
// "# TYPE name" -> 1 for every family the text declares.
std::map<std::string, double> parse_metrics(const std::string& text);
// The sample `key` ("name{labels}" or "name"); 0 for a series its family declares but has not
// created yet. Throws — failing the test with the reason — when the scrape is empty (it failed)
// or declares no such family (a renamed or removed metric): no stand-in value hides either.
double metric(const std::map<std::string, double>& metrics, const std::string& key);
// Throws unless `metrics` is a scrape that declares `family`.
void require_family(const std::map<std::string, double>& metrics, const std::string& family);

// grpc.health.v1 Check over a fresh connection: "SERVING", "NOT_SERVING", or the error.
std::string health_status(const std::string& target, const std::string& service = "");

// Path of a built binary, from the environment variable set by CMake for the test.
std::string binary_path(const char* env_name);

// The transport this run's gryphon servers use unless a test names one: "native" (the default)
// or what GRYPHON_TEST_TRANSPORT says (the grpc twins).
std::string test_transport();

// Says loudly that the running test case is skipped and why, in the form scripts/test.sh counts
// ("<test case> ... skipped '<why>'"); the caller returns right after.
void report_skip(const std::string& why);

// A TCP port nothing listens on right now (bound then released).
int free_port();

}  // namespace gryphon::test
