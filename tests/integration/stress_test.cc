// The stress drill: many rolling restarts and recycles under continuous load in one run, with
// not one failed RPC. GRYPHON_STRESS_ROUNDS sets how many of each (default 50; the sanitizer
// build runs fewer).
#include <signal.h>

#include <catch2/catch.hpp>
#include <cstdlib>
#include <iostream>

#include "harness.h"
#include "load.h"

using namespace gryphon::test;

TEST_CASE("rolling restarts and recycles under continuous load lose no RPC", "[stress]") {
  const char* rounds_env = std::getenv("GRYPHON_STRESS_ROUNDS");
  const int rounds = rounds_env != nullptr ? std::atoi(rounds_env) : 50;
  ServerProcess server(
      binary_path("GRYPHON_DRILL_SERVER"),
      {"--listen", "127.0.0.1:0", "--metrics-address", "127.0.0.1:0", "--workers", "2",
       "--max-connection-age", "300ms", "--drain-delay", "200ms", "--shutdown-timeout", "10s",
       "--heartbeat-timeout", "5s", "--max-requests", "5000", "--max-requests-jitter", "1000"});
  server.wait_ready();
  LoadGenerator load({.target = server.target()});
  REQUIRE(load.warm_up(1000));

  auto restarts = [&](const std::string& reason) {
    return metric(parse_metrics(http_get(server.ready().metrics, "/metrics")),
                  "gryphon_worker_restarts_total{reason=\"" + reason + "\"}");
  };
  int rolling = 0;
  for (; rolling < rounds; ++rolling) {
    const int completed = server.count_in_log("rolling restart complete");
    server.signal(SIGHUP);
    INFO("rolling restart " << rolling + 1 << "; " << load.report() << "\n"
                            << server.log().substr(
                                   server.log_size() > 20000 ? server.log_size() - 20000 : 0));
    REQUIRE(wait_until([&] { return server.count_in_log("rolling restart complete") > completed; },
                       std::chrono::seconds(20)));
    if ((rolling + 1) % 10 == 0)
      std::cout << "stress: " << rolling + 1 << " rolling restarts; " << load.report() << std::endl;
  }
  REQUIRE(wait_until([&] { return restarts("recycle_requests") >= rounds; },
                     std::chrono::seconds(300), std::chrono::milliseconds(100)));
  load.stop();
  const double recycles = restarts("recycle_requests");
  std::cout << "stress: " << rolling << " rolling restarts (" << restarts("rolling")
            << " slot replacements) and " << recycles << " recycles; " << load.report()
            << std::endl;
  INFO(load.report());
  CHECK(load.failed() == 0);
  CHECK(load.ok() > 0);
  CHECK(restarts("heartbeat") == 0);
  CHECK(restarts("crash") == 0);
}
