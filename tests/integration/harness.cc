#include "harness.h"

#include <arpa/inet.h>
#include <dirent.h>
#include <fcntl.h>
#include <grpcpp/grpcpp.h>
#include <netinet/in.h>
#include <signal.h>
#include <spawn.h>
#include <sys/socket.h>
#include <sys/wait.h>
#include <unistd.h>

#include <catch2/catch.hpp>
#include <iostream>
#include <cstring>
#include <filesystem>
#include <stdexcept>
#include <fstream>
#include <sstream>
#include <thread>

#include "grpc/health/v1/health.grpc.pb.h"

extern char** environ;

namespace gryphon::test {

bool wait_until(const std::function<bool()>& condition, Millis timeout, Millis interval) {
  const auto deadline = std::chrono::steady_clock::now() + timeout;
  while (true) {
    if (condition()) return true;
    if (std::chrono::steady_clock::now() >= deadline) return false;
    std::this_thread::sleep_for(interval);
  }
}

TempDir::TempDir() {
  char pattern[] = "/tmp/gryphon-test-XXXXXX";
  const char* made = ::mkdtemp(pattern);
  REQUIRE(made != nullptr);
  path_ = made;
}

TempDir::~TempDir() {
  std::error_code ec;
  std::filesystem::remove_all(path_, ec);
}

ServerProcess::ServerProcess(const std::string& binary, std::vector<std::string> args,
                             std::map<std::string, std::string> env, std::vector<int> pass_fds) {
  log_path_ = dir_.file("server.log");
  std::vector<std::string> argv_store{binary};
  argv_store.insert(argv_store.end(), args.begin(), args.end());
  // GRYPHON_TEST_TRANSPORT=grpc runs the same test against the gRPC C++ transport (a test that
  // chooses a transport itself keeps its choice). Appended last, so that a server started through
  // `sh -c '"$0" "$@"' server ...` gets it too.
  // Only gryphon's test server gets it (not nginx in front of it).
  const char* server = std::getenv("GRYPHON_DRILL_SERVER");
  // The drill server, a copy of it (the USR2 drill upgrades to one), or a wrapper running it.
  const bool is_gryphon =
      server != nullptr &&
      (binary == server ||
       std::filesystem::path(binary).filename() == std::filesystem::path(server).filename() ||
       std::find(args.begin(), args.end(), server) != args.end());
  // What wait_ready() then checks the server's ready line for: the test's own --transport, else
  // the twin's, whether or not it reached the server (a twin that runs the default fails).
  const auto named = std::find(args.begin(), args.end(), "--transport");
  const char* twin = std::getenv("GRYPHON_TEST_TRANSPORT");
  if (named != args.end() && named + 1 != args.end())
    expected_transport_ = *(named + 1);
  else if (twin != nullptr)
    expected_transport_ = twin;
  if (twin != nullptr && is_gryphon && named == args.end())
    argv_store.insert(argv_store.end(), {"--transport", twin});
  std::vector<char*> argv;
  for (auto& a : argv_store) argv.push_back(a.data());
  argv.push_back(nullptr);

  std::vector<std::string> env_store;
  for (char** e = environ; *e != nullptr; ++e) {
    const std::string entry = *e;
    if (entry.rfind("GRYPHON_", 0) == 0) continue;  // only what the test passes
    env_store.push_back(entry);
  }
  for (const auto& [key, value] : env) env_store.push_back(key + "=" + value);
  std::vector<char*> envp;
  for (auto& e : env_store) envp.push_back(e.data());
  envp.push_back(nullptr);

  posix_spawn_file_actions_t actions;
  posix_spawn_file_actions_init(&actions);
  posix_spawn_file_actions_addopen(&actions, 0, "/dev/null", O_RDONLY, 0);
  posix_spawn_file_actions_addopen(&actions, 1, log_path_.c_str(), O_WRONLY | O_CREAT | O_APPEND,
                                   0644);
  posix_spawn_file_actions_adddup2(&actions, 1, 2);
  for (std::size_t i = 0; i < pass_fds.size(); ++i) {
    posix_spawn_file_actions_adddup2(&actions, pass_fds[i], 3 + static_cast<int>(i));
  }
  posix_spawnattr_t attr;
  posix_spawnattr_init(&attr);
  sigset_t none, all;
  sigemptyset(&none);
  sigfillset(&all);
  posix_spawnattr_setsigmask(&attr, &none);
  posix_spawnattr_setsigdefault(&attr, &all);
  posix_spawnattr_setpgroup(&attr, 0);
  posix_spawnattr_setflags(&attr,
                           POSIX_SPAWN_SETSIGMASK | POSIX_SPAWN_SETSIGDEF | POSIX_SPAWN_SETPGROUP);
  const int rc = ::posix_spawn(&pid_, binary.c_str(), &actions, &attr, argv.data(), envp.data());
  posix_spawn_file_actions_destroy(&actions);
  posix_spawnattr_destroy(&attr);
  REQUIRE(rc == 0);
}

ServerProcess::~ServerProcess() {
  if (!exited_) {
    ::kill(-pid_, SIGKILL);
    ::kill(pid_, SIGKILL);
    int status = 0;
    ::waitpid(pid_, &status, 0);
  } else {
    ::kill(-pid_, SIGKILL);  // stray workers, if any
  }
}

std::string read_file(const std::string& path) {
  std::ifstream in(path);
  std::stringstream s;
  s << in.rdbuf();
  return s.str();
}

std::string ServerProcess::log() const {
  return read_file(log_path_);
}

bool ServerProcess::wait_for_log(const std::string& needle, Millis timeout,
                                 std::size_t from) const {
  return wait_until(
      [&] {
        const std::string text = log();
        return text.size() > from && text.find(needle, from) != std::string::npos;
      },
      timeout);
}

int ServerProcess::count_in_log(const std::string& needle) const {
  const std::string text = log();
  int count = 0;
  for (std::size_t at = text.find(needle); at != std::string::npos;
       at = text.find(needle, at + needle.size()))
    ++count;
  return count;
}

ReadyLine ServerProcess::wait_ready(Millis timeout) {
  std::string line;
  const bool ready = wait_until(
      [&] {
        const std::string text = log();
        auto at = text.find("ready listen=");  // after " " in text logs, '"' in JSON ones
        if (at != std::string::npos) --at;
        if (at != std::string::npos) {
          const auto end = text.find('\n', at);
          if (end == std::string::npos) return false;
          line = text.substr(at, end - at);
          line = line.substr(0, line.find('"', 1));  // a JSON log line: the message ends at '"'
          return true;
        }
        return wait_exit(Millis(0)).has_value();
      },
      timeout);
  INFO("server log:\n" << log());
  REQUIRE(ready);
  REQUIRE_FALSE(line.empty());
  std::istringstream words(line);
  std::string word;
  while (words >> word) {
    const auto eq = word.find('=');
    if (eq == std::string::npos) continue;
    const std::string key = word.substr(0, eq), value = word.substr(eq + 1);
    if (key == "listen") ready_.listen = value.substr(0, value.find(','));
    if (key == "metrics") ready_.metrics = value;
    if (key == "workers") ready_.workers = std::stoi(value);
    if (key == "pid") ready_.pid = std::stoi(value);
    if (key == "transport") ready_.transport = value;
  }
  // The server runs the transport the test asked for: its own --transport, or the twin's.
  CHECK(ready_.transport == expected_transport_);
  return ready_;
}

void ServerProcess::signal(int sig) const {
  ::kill(pid_, sig);
}

std::optional<int> ServerProcess::wait_exit(Millis timeout) {
  if (exited_) return exit_code_;
  const bool done = wait_until(
      [&] {
        int status = 0;
        const pid_t r = ::waitpid(pid_, &status, WNOHANG);
        if (r == pid_) {
          exited_ = true;
          exit_code_ = WIFEXITED(status) ? WEXITSTATUS(status) : 128 + WTERMSIG(status);
        }
        return exited_;
      },
      timeout, Millis(5));
  if (!done) return std::nullopt;
  return exit_code_;
}

std::map<int, pid_t> ready_workers(const ServerProcess& server) {
  std::map<int, pid_t> slots;
  std::istringstream in(server.log());
  std::string line;
  while (std::getline(in, line)) {
    const auto at = line.find("master pid=");
    const auto w = line.find(" worker[", at == std::string::npos ? 0 : at);
    if (at == std::string::npos || w == std::string::npos ||
        line.find(" ready in ") == std::string::npos)
      continue;
    const int slot = std::stoi(line.substr(w + 8));
    const auto p = line.find("pid=", w);
    slots[slot] = std::stoi(line.substr(p + 4));
  }
  return slots;
}

std::vector<pid_t> children_of(pid_t parent) {
  std::vector<pid_t> children;
  DIR* dir = ::opendir("/proc");
  if (dir == nullptr) return children;
  while (dirent* entry = ::readdir(dir)) {
    const pid_t pid = std::atoi(entry->d_name);
    if (pid <= 0) continue;
    std::ifstream stat("/proc/" + std::string(entry->d_name) + "/stat");
    std::string content;
    std::getline(stat, content);
    const auto close = content.rfind(')');
    if (close == std::string::npos) continue;
    std::istringstream rest(content.substr(close + 2));
    char state = 0;
    pid_t ppid = 0;
    rest >> state >> ppid;
    if (ppid == parent && state != 'Z') children.push_back(pid);
  }
  ::closedir(dir);
  return children;
}

int thread_count(pid_t pid) {
  int count = 0;
  if (DIR* dir = ::opendir(("/proc/" + std::to_string(pid) + "/task").c_str())) {
    while (dirent* entry = ::readdir(dir)) count += entry->d_name[0] != '.';
    ::closedir(dir);
  }
  return count;
}

int threads_named(pid_t pid, const std::string& prefix) {
  const std::string tasks = "/proc/" + std::to_string(pid) + "/task";
  int count = 0;
  if (DIR* dir = ::opendir(tasks.c_str())) {
    while (dirent* entry = ::readdir(dir)) {
      if (entry->d_name[0] == '.') continue;
      std::string name;
      std::getline(std::ifstream(tasks + "/" + entry->d_name + "/comm"), name);
      count += name.rfind(prefix, 0) == 0;
    }
    ::closedir(dir);
  }
  return count;
}

bool process_alive(pid_t pid) {
  std::ifstream stat("/proc/" + std::to_string(pid) + "/stat");
  std::string content;
  if (!std::getline(stat, content)) return false;
  const auto close = content.rfind(')');
  return close != std::string::npos && close + 2 < content.size() && content[close + 2] != 'Z';
}

std::string http_get(const std::string& host_port, const std::string& path) {
  const auto colon = host_port.rfind(':');
  sockaddr_in addr{};
  addr.sin_family = AF_INET;
  addr.sin_port = htons(static_cast<uint16_t>(std::stoi(host_port.substr(colon + 1))));
  ::inet_pton(AF_INET, host_port.substr(0, colon).c_str(), &addr.sin_addr);
  const int fd = ::socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
  timeval tv{5, 0};
  ::setsockopt(fd, SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof(tv));
  if (::connect(fd, reinterpret_cast<sockaddr*>(&addr), sizeof(addr)) != 0) {
    ::close(fd);
    return "";
  }
  const std::string request = "GET " + path + " HTTP/1.1\r\nHost: " + host_port + "\r\n\r\n";
  (void)!::write(fd, request.data(), request.size());
  std::string response;
  char buffer[65536];
  ssize_t n;
  while ((n = ::read(fd, buffer, sizeof(buffer))) > 0)
    response.append(buffer, static_cast<std::size_t>(n));
  ::close(fd);
  const auto body = response.find("\r\n\r\n");
  return body == std::string::npos ? "" : response.substr(body + 4);
}

std::map<std::string, double> parse_metrics(const std::string& text) {
  std::map<std::string, double> out;
  std::istringstream in(text);
  std::string line;
  while (std::getline(in, line)) {
    if (line.rfind("# TYPE ", 0) == 0) {
      std::istringstream words(line.substr(7));
      std::string family;
      if (words >> family) out["# TYPE " + family] = 1;
      continue;
    }
    if (line.empty() || line[0] == '#') continue;
    const auto space = line.rfind(' ');
    if (space == std::string::npos) continue;
    out[line.substr(0, space)] = std::strtod(line.c_str() + space + 1, nullptr);
  }
  return out;
}

void require_family(const std::map<std::string, double>& metrics, const std::string& family) {
  if (metrics.empty())
    throw std::runtime_error("the /metrics scrape failed or was empty (wanted " + family + ")");
  if (metrics.count("# TYPE " + family) == 0)
    throw std::runtime_error("the /metrics scrape declares no metric " + family);
}

double metric(const std::map<std::string, double>& metrics, const std::string& key) {
  if (auto it = metrics.find(key); it != metrics.end()) return it->second;
  require_family(metrics, key.substr(0, key.find('{')));
  return 0;
}

std::string health_status(const std::string& target, const std::string& service) {
  grpc::ChannelArguments args;
  args.SetInt("gryphon.test.unique", std::rand());  // a fresh connection every time
  auto channel = grpc::CreateCustomChannel(target, grpc::InsecureChannelCredentials(), args);
  auto stub = grpc::health::v1::Health::NewStub(channel);
  grpc::ClientContext context;
  context.set_deadline(std::chrono::system_clock::now() + std::chrono::seconds(2));
  grpc::health::v1::HealthCheckRequest request;
  request.set_service(service);
  grpc::health::v1::HealthCheckResponse response;
  const grpc::Status status = stub->Check(&context, request, &response);
  if (!status.ok()) return "error: " + status.error_message();
  return grpc::health::v1::HealthCheckResponse::ServingStatus_Name(response.status());
}

std::string binary_path(const char* env_name) {
  const char* path = std::getenv(env_name);
  INFO("environment variable " << env_name << " names the binary under test (set by ctest)");
  REQUIRE(path != nullptr);
  return path;
}

void report_skip(const std::string& why) {
  std::cout << Catch::getResultCapture().getCurrentTestName() << " ... skipped '" << why << "'"
            << std::endl;
  WARN("skipped: " << why);
}

std::string test_transport() {
  const char* transport = std::getenv("GRYPHON_TEST_TRANSPORT");
  return transport != nullptr ? transport : "native";
}

int free_port() {
  const int fd = ::socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
  sockaddr_in addr{};
  addr.sin_family = AF_INET;
  addr.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  ::bind(fd, reinterpret_cast<sockaddr*>(&addr), sizeof(addr));
  socklen_t len = sizeof(addr);
  ::getsockname(fd, reinterpret_cast<sockaddr*>(&addr), &len);
  ::close(fd);
  return ntohs(addr.sin_port);
}

std::map<std::string, std::string> access_log_fields(const std::string& line,
                                                     const std::string& format) {
  std::map<std::string, std::string> fields;
  if (format == "ltsv") {
    std::istringstream in(line);
    std::string item;
    while (std::getline(in, item, '\t')) {
      const auto colon = item.find(':');
      if (colon != std::string::npos) fields[item.substr(0, colon)] = item.substr(colon + 1);
    }
    return fields;
  }
  // text: key=value or key="json string"; json: "key":value or "key":"string".
  const bool json = format == "json";
  std::size_t i = json ? 1 : 0;
  while (i < line.size()) {
    std::string key;
    if (json) {
      const auto end = line.find('"', i + 1);
      key = line.substr(i + 1, end - i - 1);
      i = end + 2;  // past the closing quote and the colon
    } else {
      const auto eq = line.find('=', i);
      key = line.substr(i, eq - i);
      i = eq + 1;
    }
    std::string value;
    if (line[i] == '"') {
      ++i;
      while (i < line.size() && line[i] != '"') {
        if (line[i] == '\\' && i + 1 < line.size()) ++i;
        value += line[i++];
      }
      ++i;
    } else {
      while (i < line.size() && line[i] != (json ? ',' : ' ') && line[i] != '}') value += line[i++];
    }
    fields[key] = value;
    while (i < line.size() && (line[i] == ',' || line[i] == ' ' || line[i] == '}')) ++i;
  }
  return fields;
}

}  // namespace gryphon::test
