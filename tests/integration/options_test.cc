// Options the README documents, each run for real: a slow start past --startup-timeout, the
// restart backoff, recycling above --max-memory, the open-file limit, more than one I/O or
// completion-queue thread, --max-connection-age-grace, JSON server logs, and the stops that do
// not drain (a second INT, QUIT). Every wait is on a condition with a deadline; bounds say why.
#include <arpa/inet.h>
#include <netinet/in.h>
#include <signal.h>
#include <sys/socket.h>
#include <unistd.h>

#include <catch2/catch.hpp>
#include <chrono>
#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <functional>
#include <iostream>
#include <regex>
#include <thread>

#include <grpcpp/grpcpp.h>

#include "drill.grpc.pb.h"
#include "harness.h"
#include "load.h"

using namespace gryphon::test;
using namespace std::chrono_literals;
using Clock = std::chrono::steady_clock;

namespace {

std::string drill_server() {
  return binary_path("GRYPHON_DRILL_SERVER");
}

std::vector<std::string> args(std::vector<std::string> extra) {
  std::vector<std::string> all{"--listen", "127.0.0.1:0", "--metrics-address",
                               "127.0.0.1:" + std::to_string(free_port())};
  all.insert(all.end(), extra.begin(), extra.end());
  return all;
}

long ms_since(Clock::time_point since) {
  return std::chrono::duration_cast<std::chrono::milliseconds>(Clock::now() - since).count();
}

std::unique_ptr<gryphon::test::Drill::Stub> drill_stub(const std::string& target) {
  grpc::ChannelArguments unique;
  unique.SetInt("gryphon.test.unique", std::rand());  // a connection of its own
  return gryphon::test::Drill::NewStub(
      grpc::CreateCustomChannel(target, grpc::InsecureChannelCredentials(), unique));
}

// "VmRSS" of `pid` in bytes (0 once it is gone).
std::uint64_t resident_bytes(pid_t pid) {
  std::ifstream status("/proc/" + std::to_string(pid) + "/status");
  for (std::string line; std::getline(status, line);) {
    if (line.rfind("VmRSS:", 0) == 0) return std::stoull(line.substr(6)) << 10;
  }
  return 0;
}

// The soft "Max open files" of `pid`.
long open_file_limit(pid_t pid) {
  std::ifstream limits("/proc/" + std::to_string(pid) + "/limits");
  for (std::string line; std::getline(limits, line);) {
    if (line.rfind("Max open files", 0) == 0) return std::stol(line.substr(26));
  }
  return -1;
}

// The delays of the master's "respawning worker[0] in Nms" lines, with when each was logged
// (milliseconds of the log's own clock), from byte `from` of the log.
std::vector<std::pair<long, long>> respawns(const ServerProcess& server, std::size_t from) {
  static const std::regex line_re(
      R"((\d\d):(\d\d):(\d\d)\.(\d\d\d)\S* .*respawning worker\[0\] in (\d+)ms)");
  std::vector<std::pair<long, long>> found;
  std::istringstream in(server.log().substr(from));
  for (std::string line; std::getline(in, line);) {
    std::smatch m;
    if (!std::regex_search(line, m, line_re)) continue;
    const long at =
        ((std::stol(m[1]) * 60 + std::stol(m[2])) * 60 + std::stol(m[3])) * 1000 + std::stol(m[4]);
    found.emplace_back(std::stol(m[5]), at);
  }
  return found;
}

}  // namespace

TEST_CASE("a worker not ready within --startup-timeout is killed and the start fails with exit 1",
          "[options][startup-timeout]") {
  // A start that takes 30 s against a 1 s timeout: killed at about 1 s, the instance stops.
  {
    ServerProcess slow(drill_server(), args({"--workers", "1", "--startup-timeout", "1s"}),
                       {{"GRYPHON_TEST_START_DELAY_MS", "30000"}});
    const auto started = Clock::now();
    const auto code = slow.wait_exit(15s);  // 1 s plus the master's 100 ms check, loaded box
    const long took = ms_since(started);
    std::cout << "startup-timeout 1s, a 30 s start: exit " << (code ? *code : -1) << " after "
              << took << "ms\n";
    INFO(slow.log());
    REQUIRE(code.has_value());
    CHECK(*code == 1);
    CHECK(slow.log().find("not ready within startup-timeout") != std::string::npos);
    CHECK(took >= 900);
  }
  // The same slow start (1.5 s) within a generous timeout starts and serves.
  ServerProcess patient(drill_server(), args({"--workers", "1", "--startup-timeout", "20s"}),
                        {{"GRYPHON_TEST_START_DELAY_MS", "1500"}});
  patient.wait_ready();
  CHECK(health_status(patient.target()) == "SERVING");
}

TEST_CASE(
    "a worker that keeps failing to start is respawned with a doubling backoff, reset once "
    "one is ready",
    "[options][backoff]") {
  TempDir dir;
  const std::string fail_flag = dir.file("fail-start");
  ServerProcess server(drill_server(), args({"--workers", "1"}),
                       {{"GRYPHON_TEST_FAIL_START_IF", fail_flag}});
  server.wait_ready();
  std::ofstream(fail_flag) << "the next starts fail\n";
  const auto mark = server.log_size();
  const pid_t first = ready_workers(server).at(0);
  ::kill(first, SIGKILL);
  // 100 + 200 + 400 + 800 ms of backoff before the fifth respawn is scheduled.
  REQUIRE(wait_until([&] { return respawns(server, mark).size() >= 5; }, 20s));
  const auto seen = respawns(server, mark);
  INFO(server.log().substr(mark));
  for (std::size_t i = 0; i < 5; ++i) {
    CHECK(seen[i].first == (100L << i));
    // The next respawn is scheduled only after this delay (and a start that failed) passed.
    if (i > 0) CHECK(seen[i].second - seen[i - 1].second >= seen[i - 1].first);
  }
  CHECK(process_alive(server.pid()));  // the instance was ready once: it does not give up

  // Starts succeed again: the slot comes back, and its next death waits 100 ms only.
  std::filesystem::remove(fail_flag);
  REQUIRE(wait_until(
      [&] {
        const auto now = ready_workers(server);
        return now.count(0) && now.at(0) != first;
      },
      20s));  // the pending delay is at most 3.2 s, then the start takes well under a second
  CHECK(health_status(server.target()) == "SERVING");
  const auto again = server.log_size();
  ::kill(ready_workers(server).at(0), SIGKILL);
  REQUIRE(wait_until([&] { return !respawns(server, again).empty(); }, 5s));
  CHECK(respawns(server, again).front().first == 100);
}

TEST_CASE("a worker above --max-memory is recycled without losing an RPC",
          "[options][max-memory]") {
  ServerProcess server(drill_server(), args({"--workers", "1", "--max-memory", "384MiB"}));
  server.wait_ready();
  const pid_t worker = ready_workers(server).at(0);
  const std::uint64_t before = resident_bytes(worker);
  std::cout << "max-memory: the worker holds " << (before >> 20) << " MiB after start\n";
  REQUIRE(before < (256u << 20));  // room below the limit, or the case proves nothing
  LoadGenerator load({.target = server.target()});
  REQUIRE(load.warm_up(500));
  CHECK(server.log().find("asks to be recycled") == std::string::npos);

  // The worker grows past the limit: it asks to be recycled at its next heartbeat (≤ 1 s).
  grpc::ClientContext context;
  gryphon::test::HoldRequest hold;
  hold.set_mebibytes(448);
  gryphon::test::HoldReply held;
  REQUIRE(drill_stub(server.target())->Hold(&context, hold, &held).ok());
  REQUIRE(held.pid() == worker);
  CHECK(resident_bytes(worker) > (384u << 20));
  REQUIRE(server.wait_for_log("asks to be recycled (memory)", 10s));
  // The replacement serves and the old worker drains and exits (connections' age 10 s ± 10%).
  REQUIRE(wait_until(
      [&] {
        const auto now = ready_workers(server);
        return now.count(0) && now.at(0) != worker && !process_alive(worker);
      },
      40s));
  REQUIRE(load.wait_for_more(500));
  load.stop();
  const auto metrics = parse_metrics(http_get(server.ready().metrics, "/metrics"));
  std::cout << "max-memory: recycled; " << load.report() << "\n";
  INFO(load.report() << "\n" << server.log());
  CHECK(load.failed() == 0);
  CHECK(metric(metrics, "gryphon_worker_restarts_total{reason=\"recycle_memory\"}") == 1);
}

TEST_CASE(
    "--max-open-files refuses a hard limit below it and raises the soft limit to the hard one",
    "[options][open-files]") {
  // util-linux's prlimit starts the server under the limits a service manager would set.
  {
    ServerProcess low("/usr/bin/prlimit",
                      {"--nofile=1024:1024", drill_server(), "--listen", "127.0.0.1:0",
                       "--metrics-address", "", "--workers", "1", "--max-open-files", "4096"});
    const auto code = low.wait_exit(10s);
    INFO(low.log());
    REQUIRE(code.has_value());
    CHECK(*code == 1);
    CHECK(low.log().find("the open-file limit is 1024 but --max-open-files asks for 4096") !=
          std::string::npos);
  }
  ServerProcess raised("/usr/bin/prlimit",
                       {"--nofile=256:8192", drill_server(), "--listen", "127.0.0.1:0",
                        "--metrics-address", "", "--workers", "1", "--max-open-files", "2048"});
  raised.wait_ready();
  CHECK(open_file_limit(raised.pid()) == 8192);
  CHECK(open_file_limit(ready_workers(raised).at(0)) == 8192);
}

TEST_CASE("a worker out of file descriptors backs off accepting, serves on and recovers",
          "[options][open-files]") {
  // 128 descriptors, a connection cap above that: the worker's accept(2) fails with EMFILE.
  ServerProcess server(
      "/usr/bin/prlimit",
      {"--nofile=128:128", drill_server(), "--listen", "127.0.0.1:0", "--metrics-address", "",
       "--workers", "1", "--max-open-files", "64", "--hard-max-connections", "1000"});
  server.wait_ready();
  const pid_t worker = ready_workers(server).at(0);
  auto stub = drill_stub(server.target());  // connected before the flood: it keeps being served
  auto sleep_once = [&](gryphon::test::Drill::Stub& s) {
    grpc::ClientContext context;
    context.set_deadline(std::chrono::system_clock::now() + 5s);
    gryphon::test::SleepRequest request;
    gryphon::test::SleepReply reply;
    return s.Sleep(&context, request, &reply);
  };
  REQUIRE(sleep_once(*stub).ok());
  std::vector<int> flood;
  for (int i = 0; i < 200; ++i) {
    const int fd = ::socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
    sockaddr_in address{};
    address.sin_family = AF_INET;
    address.sin_port = htons(
        static_cast<uint16_t>(std::stoi(server.target().substr(server.target().rfind(':') + 1))));
    address.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    REQUIRE(::connect(fd, reinterpret_cast<sockaddr*>(&address), sizeof(address)) == 0);
    flood.push_back(fd);
  }
  const bool backed_off = server.wait_for_log("backing off 100ms", 10s);
  const auto during = sleep_once(*stub);
  for (int fd : flood) ::close(fd);
  INFO(server.log());
  CHECK(backed_off);
  CHECK(during.ok());
  // Descriptors free again: a new connection is accepted and served by the same worker.
  auto fresh = drill_stub(server.target());
  CHECK(wait_until([&] { return sleep_once(*fresh).ok(); }, 15s, 200ms));
  CHECK(ready_workers(server).at(0) == worker);
  CHECK(process_alive(worker));
}

TEST_CASE("more I/O threads (native) or completion-queue threads (grpc) serve every connection",
          "[options][threads]") {
  // The same instance with 1 and with 4: the worker runs exactly that many threads of the
  // transport's own (named gryphon-io-N on native, gryphon-cq-N on grpc) and every call succeeds.
  const std::string name = test_transport() == "native" ? "gryphon-io-" : "gryphon-cq-";
  for (const int n : {1, 4}) {
    ServerProcess server(drill_server(), args({"--workers", "1", "--io-threads", std::to_string(n),
                                               "--cq-threads", std::to_string(n)}));
    server.wait_ready();
    LoadGenerator load({.target = server.target(), .connections = 16, .in_flight = 128});
    REQUIRE(load.warm_up(5000));
    const pid_t worker = ready_workers(server).at(0);
    const int named = threads_named(worker, name);
    load.stop();
    std::cout << "threads: " << n << " asked, worker runs " << named << " " << name << "* of "
              << thread_count(worker) << " threads; " << load.report() << "\n";
    INFO(load.report());
    CHECK(named == n);
    CHECK(load.failed() == 0);
  }
}

TEST_CASE("--max-connection-age-grace ends calls that outlive it; 0 lets them finish",
          "[options][grace]") {
  // The handler sleeps 20 s and never looks at cancellation: only the grace can end it early.
  auto sleep_call = [](const std::string& target, int millis) {
    grpc::ClientContext context;
    context.set_deadline(std::chrono::system_clock::now() + 30s);
    gryphon::test::SleepRequest request;
    request.set_millis(millis);
    gryphon::test::SleepReply reply;
    const auto started = Clock::now();
    const grpc::Status status = drill_stub(target)->Sleep(&context, request, &reply);
    return std::make_pair(status, ms_since(started));
  };
  {
    ServerProcess server(drill_server(), args({"--workers", "1", "--max-connection-age", "1s",
                                               "--max-connection-age-grace", "2s"}));
    server.wait_ready();
    const auto [status, took] = sleep_call(server.target(), 20000);
    std::cout << "grace 2s: a 20 s call ended " << status.error_code() << " '"
              << status.error_message() << "' after " << took << "ms\n";
    CHECK_FALSE(status.ok());
    CHECK(took >= 2500);  // age 1 s - 10% + grace 2 s
    CHECK(took < 10000);  // 1.1 s + 2 s, with slack for a loaded machine; the call wanted 20 s
  }
  ServerProcess server(drill_server(), args({"--workers", "1", "--max-connection-age", "1s",
                                             "--max-connection-age-grace", "0s"}));
  server.wait_ready();
  const auto [status, took] = sleep_call(server.target(), 4000);
  std::cout << "grace 0: a 4 s call on a 1 s connection ended " << status.error_code() << " after "
            << took << "ms\n";
  CHECK(status.ok());
}

TEST_CASE("--log-format json writes every server log line as one JSON object",
          "[options][log-format]") {
  ServerProcess server(drill_server(),
                       args({"--workers", "2", "--log-format", "json", "--drain-delay", "0s"}));
  server.wait_ready();
  server.signal(SIGTERM);
  REQUIRE(server.wait_exit(30s) == 0);
  const std::string log = server.log();
  INFO(log);
  // A real parser's verdict on every line, and the fields each must have.
  const std::string file = server.dir().file("server.log");
  const std::string check =
      "python3 -c 'import json,sys\n"
      "lines=[json.loads(l) for l in open(sys.argv[1])]\n"
      "assert lines and all(set(l)>={\"time\",\"level\",\"logger\",\"pid\",\"msg\"} for l in "
      "lines)\n"
      "names={l[\"logger\"] for l in lines}\n"
      "assert {\"master\",\"worker[0]\",\"worker[1]\"}<=names, names' " +
      file;
  CHECK(std::system(check.c_str()) == 0);
}

// Starts 2 workers with a 30 s drain-delay and calls in flight, runs `stop` (which sends the
// signals), and checks that the instance exits 1 within 10 s — only an immediate stop can, with
// that drain-delay — saying `says`, with every worker gone.
void check_stops_at_once(const std::function<void(ServerProcess&)>& stop, const std::string& says) {
  ServerProcess server(drill_server(), args({"--workers", "2", "--drain-delay", "30s"}));
  server.wait_ready();
  LoadGenerator load({.target = server.target(), .sleep_ms = 200});
  REQUIRE(load.warm_up(50));
  const auto workers = ready_workers(server);
  stop(server);
  const auto code = server.wait_exit(10s);
  load.stop();
  INFO(server.log());
  REQUIRE(code.has_value());
  CHECK(*code == 1);
  CHECK(server.log().find(says) != std::string::npos);
  for (const auto& [slot, pid] : workers)
    CHECK(wait_until([pid = pid] { return !process_alive(pid); }, 5s));
}

TEST_CASE("a second INT stops at once with exit 1, not after the drain", "[options][signals]") {
  check_stops_at_once(
      [](ServerProcess& server) {
        server.signal(SIGINT);
        REQUIRE(wait_until([&] { return health_status(server.target()) == "NOT_SERVING"; }, 5s));
        server.signal(SIGINT);
      },
      "second SIGINT: stopping immediately");
}

TEST_CASE("QUIT stops at once with exit 1 and takes the workers with it", "[options][signals]") {
  check_stops_at_once([](ServerProcess& server) { server.signal(SIGQUIT); },
                      "SIGQUIT: stopping immediately");
}
