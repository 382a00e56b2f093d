// Lifecycle drills: one-process mode, the master's death, configuration re-reads on HUP, log
// reopening, the pid file, and what a health Watch sees of a drain.
#include <signal.h>
#include <unistd.h>

#include <catch2/catch.hpp>
#include <filesystem>
#include <fstream>
#include <iostream>
#include <sstream>

#include <grpcpp/grpcpp.h>

#include "grpc/health/v1/health.grpc.pb.h"
#include "harness.h"
#include "load.h"

using namespace gryphon::test;

namespace {

std::string drill_server() {
  return binary_path("GRYPHON_DRILL_SERVER");
}

}  // namespace

TEST_CASE(
    "--workers 0 serves from one process, with its own /metrics, and TERM drains it to exit 0",
    "[lifecycle][standalone]") {
  ServerProcess server(drill_server(),
                       {"--listen", "127.0.0.1:0", "--workers", "0", "--drain-delay", "300ms",
                        "--max-connection-age", "1s", "--metrics-address", "127.0.0.1:0"});
  server.wait_ready();
  CHECK(children_of(server.pid()).empty());
  REQUIRE(server.ready().metrics != "off");
  LoadGenerator load({.target = server.target()});
  REQUIRE(load.warm_up(1000));
  // The process counts its own RPCs: every OK the client has seen so far is in the scrape.
  const std::uint64_t seen = load.ok();
  const auto scraped = parse_metrics(http_get(server.ready().metrics, "/metrics"));
  double handled_ok = 0;
  for (const auto& [key, value] : scraped) {
    if (key.rfind("grpc_server_handled_total{grpc_code=\"OK\"", 0) == 0) handled_ok += value;
  }
  CHECK(handled_ok >= static_cast<double>(seen));
  CHECK(metric(scraped, "gryphon_workers_desired") == 1);
  CHECK(metric(scraped, "gryphon_workers_ready") == 1);
  server.signal(SIGTERM);
  REQUIRE(wait_until([&] { return health_status(server.target()) == "NOT_SERVING"; },
                     std::chrono::seconds(3)));
  load.stop();
  const auto code = server.wait_exit(std::chrono::seconds(15));
  INFO(load.report() << "\n" << server.log());
  REQUIRE(code.has_value());
  CHECK(*code == 0);
  CHECK(load.failed() == 0);
}

TEST_CASE("a health Watch sees SERVING, then NOT_SERVING on TERM, then ends UNAVAILABLE",
          "[lifecycle][watch]") {
  // A watch holds no pool thread: 40 of them on --threads 2 all watch, and each sees the drain.
  ServerProcess server(drill_server(),
                       {"--listen", "127.0.0.1:0", "--metrics-address", "", "--workers", "1",
                        "--threads", "2", "--drain-delay", "1s", "--max-connection-age", "30s"});
  server.wait_ready();
  auto channel = grpc::CreateChannel(server.target(), grpc::InsecureChannelCredentials());
  auto stub = grpc::health::v1::Health::NewStub(channel);
  using grpc::health::v1::HealthCheckResponse;
  struct Watch {
    grpc::ClientContext context;
    std::unique_ptr<grpc::ClientReader<HealthCheckResponse>> reader;
    std::vector<HealthCheckResponse::ServingStatus> seen;
  };
  std::vector<std::unique_ptr<Watch>> watches;
  for (int i = 0; i < 40; ++i) {
    auto watch = std::make_unique<Watch>();
    watch->context.set_deadline(std::chrono::system_clock::now() + std::chrono::seconds(20));
    watch->reader = stub->Watch(&watch->context, grpc::health::v1::HealthCheckRequest());
    HealthCheckResponse first;
    REQUIRE(watch->reader->Read(&first));
    watch->seen.push_back(first.status());
    watches.push_back(std::move(watch));
  }
  const auto sent = std::chrono::steady_clock::now();
  server.signal(SIGTERM);
  std::vector<grpc::Status> ended;
  for (auto& watch : watches) {
    HealthCheckResponse next;
    while (watch->reader->Read(&next)) watch->seen.push_back(next.status());
    ended.push_back(watch->reader->Finish());
  }
  const auto took_ms =
      std::chrono::duration_cast<std::chrono::milliseconds>(std::chrono::steady_clock::now() - sent)
          .count();
  std::cout << "watch: 40 watches on --threads 2 ended " << took_ms << "ms after TERM\n";
  INFO(server.log());
  for (std::size_t i = 0; i < watches.size(); ++i) {
    INFO("watch " << i << ": " << ended[i].error_message());
    CHECK(watches[i]->seen == std::vector<HealthCheckResponse::ServingStatus>{
                                  HealthCheckResponse::SERVING, HealthCheckResponse::NOT_SERVING});
    CHECK(ended[i].error_code() == grpc::StatusCode::UNAVAILABLE);
  }
  // NOT_SERVING at once, the end after --drain-delay (1 s) when the worker starts draining, well
  // before the watches' own deadline (20 s) or the connection's age (30 s).
  CHECK(took_ms >= 900);
  CHECK(took_ms < 10000);
  // The client goes elsewhere, as one whose watches ended would: on --transport grpc the drain
  // waits for its connection (which --max-connection-age, 30 s here, would end otherwise).
  watches.clear();
  stub.reset();
  channel.reset();
  const auto code = server.wait_exit(std::chrono::seconds(15));
  REQUIRE(code.has_value());
  CHECK(*code == 0);
}

TEST_CASE("workers drain and exit when the master dies", "[lifecycle][orphan]") {
  ServerProcess server(drill_server(),
                       {"--listen", "127.0.0.1:0", "--workers", "2", "--metrics-address", "",
                        "--max-connection-age", "1s", "--shutdown-timeout", "5s"});
  server.wait_ready();
  const auto workers = children_of(server.pid());
  REQUIRE(workers.size() == 2);
  // Calls in flight when the master dies (each sleeps 300 ms in its handler): the orphaned
  // workers drain, so every one of them completes.
  LoadGenerator load({.target = server.target(),
                      .connections = 4,
                      .in_flight = 16,
                      .method = "/gryphon.test.Drill/Sleep",
                      .sleep_ms = 300});
  REQUIRE(load.warm_up(32));
  load.stop_issuing();
  const auto in_flight = load.outstanding();
  ::kill(server.pid(), SIGKILL);
  REQUIRE(server.wait_exit(std::chrono::seconds(5)).has_value());
  load.stop();
  std::cout << "orphan: " << in_flight << " calls in flight when the master died; " << load.report()
            << "\n";
  CHECK(in_flight > 0);
  CHECK(load.failed() == 0);
  const bool gone = wait_until(
      [&] {
        for (pid_t w : workers) {
          if (process_alive(w)) return false;
        }
        return true;
      },
      std::chrono::seconds(15));
  INFO(server.log());
  CHECK(gone);
  CHECK(server.log().find("draining") != std::string::npos);
}

TEST_CASE("HUP re-reads the config file, and a bad file keeps the old configuration",
          "[lifecycle][reload]") {
  TempDir dir;
  const std::string config = dir.file("server.toml");
  std::ofstream(config)
      << "workers = 2\nmax-connection-age = \"1s\"\ndrain-delay = \"200ms\"\nmax-requests = 0\n";
  ServerProcess server(drill_server(), {"--config", config, "--listen", "127.0.0.1:0",
                                        "--metrics-address", "127.0.0.1:0"});
  server.wait_ready();
  LoadGenerator load({.target = server.target()});
  REQUIRE(load.warm_up(1000));

  SECTION("a good file takes effect on the new workers") {
    std::ofstream(config) << "workers = 2\nmax-connection-age = \"1s\"\nmax-requests = 2000\n";
    const auto mark = server.log_size();
    server.signal(SIGHUP);
    REQUIRE(server.wait_for_log("rolling restart complete", std::chrono::seconds(20), mark));
    // max-requests now applies: the new workers ask to be recycled.
    REQUIRE(wait_until(
        [&] {
          return metric(parse_metrics(http_get(server.ready().metrics, "/metrics")),
                        "gryphon_worker_restarts_total{reason=\"recycle_requests\"}") >= 1;
        },
        std::chrono::seconds(20)));
  }
  SECTION("a malformed file is reported and the restart goes on with the old configuration") {
    std::ofstream(config) << "workers = 2\nno-such-option = 3\n";
    const auto mark = server.log_size();
    server.signal(SIGHUP);
    REQUIRE(server.wait_for_log("rolling restart complete", std::chrono::seconds(20), mark));
    const std::string log = server.log().substr(mark);
    CHECK(log.find("keeping the current configuration") != std::string::npos);
    CHECK(log.find("no-such-option") != std::string::npos);
  }
  load.stop();
  INFO(load.report());
  CHECK(load.failed() == 0);
}

TEST_CASE("USR1 reopens the log file after logrotate moved it", "[lifecycle][usr1]") {
  TempDir dir;
  const std::string log_file = dir.file("gryphon.log");
  ServerProcess server(drill_server(), {"--listen", "127.0.0.1:0", "--workers", "2",
                                        "--metrics-address", "", "--log-file", log_file});
  REQUIRE(
      wait_until([&] { return read_file(log_file).find(" ready listen=") != std::string::npos; },
                 std::chrono::seconds(20)));
  std::filesystem::rename(log_file, log_file + ".1");
  server.signal(SIGUSR1);
  REQUIRE(wait_until([&] { return std::filesystem::exists(log_file); }, std::chrono::seconds(5)));
  // Something every process logs after the reopen: a worker's drain on TTOU, the master's count.
  server.signal(SIGTTOU);
  REQUIRE(wait_until([&] { return read_file(log_file).find("now 1 workers") != std::string::npos; },
                     std::chrono::seconds(20)));
  const std::string fresh = read_file(log_file);
  CHECK(fresh.find("worker[1]") != std::string::npos);  // the worker reopened too
  CHECK(read_file(log_file + ".1").find("now 1 workers") == std::string::npos);
}

TEST_CASE("a worker writes to --log-file until it exits", "[lifecycle][usr1]") {
  // A forked worker once closed its own log file while dropping the master's inherited logger,
  // so its drain lines went to an eventfd and stderr said "Failed flush ... Invalid argument".
  TempDir dir;
  const std::string log_file = dir.file("gryphon.log");
  ServerProcess server(drill_server(),
                       {"--listen", "127.0.0.1:0", "--workers", "1", "--metrics-address", "",
                        "--drain-delay", "0s", "--log-file", log_file});
  REQUIRE(
      wait_until([&] { return read_file(log_file).find(" ready listen=") != std::string::npos; },
                 std::chrono::seconds(20)));
  server.signal(SIGTERM);
  const auto code = server.wait_exit(std::chrono::seconds(20));
  REQUIRE(code.has_value());
  CHECK(*code == 0);
  const std::string written = read_file(log_file);
  INFO(written << "\n" << server.log());
  std::istringstream lines(written);
  bool worker_drain_line = false;  // the worker's own line at stop
  for (std::string line; std::getline(lines, line);)
    worker_drain_line |= line.find("worker[0] pid=") != std::string::npos &&
                         line.find("draining (") != std::string::npos;
  CHECK(worker_drain_line);
  CHECK(server.log().find("LOG ERROR") == std::string::npos);
}

TEST_CASE("the pid file appears once ready, holds the master's pid, and goes at exit",
          "[lifecycle][pidfile]") {
  TempDir dir;
  const std::string pid_file = dir.file("gryphon.pid");
  ServerProcess server(drill_server(),
                       {"--listen", "127.0.0.1:0", "--workers", "1", "--metrics-address", "",
                        "--pid-file", pid_file, "--drain-delay", "0s"});
  server.wait_ready();
  REQUIRE(wait_until([&] { return std::filesystem::exists(pid_file); }, std::chrono::seconds(5)));
  CHECK(std::stoi(read_file(pid_file)) == server.pid());
  ServerProcess second(drill_server(), {"--listen", "127.0.0.1:0", "--workers", "1",
                                        "--metrics-address", "", "--pid-file", pid_file});
  const auto second_code = second.wait_exit(std::chrono::seconds(10));
  server.signal(SIGTERM);
  const auto code = server.wait_exit(std::chrono::seconds(15));
  INFO(server.log() << "\nsecond:\n" << second.log());
  REQUIRE(code.has_value());
  CHECK(*code == 0);
  CHECK_FALSE(std::filesystem::exists(pid_file));
  REQUIRE(second_code.has_value());
  CHECK(*second_code == 1);
  CHECK(second.log().find("held by a running instance") != std::string::npos);
}
