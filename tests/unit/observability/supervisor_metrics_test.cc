// gryphon::internal::SupervisorMetrics and WorkerStats: what the master's /metrics reports about
// its workers, per slot, and how totals stay monotonic across worker restarts.
#include "observability/supervisor_metrics.h"

#include <sys/wait.h>

#include <catch2/catch.hpp>

#include <cstdio>
#include <cstdlib>
#include <optional>
#include <sstream>
#include <string>
#include <vector>

#include "control/control_protocol.h"
#include "test_support.h"

namespace gryphon::internal {
namespace {

using Catch::Matchers::Contains;

// The value of the sample written exactly as `series` (name and labels), if the text has it.
std::optional<double> sample(const std::string& text, const std::string& series) {
  std::istringstream in(text);
  for (std::string line; std::getline(in, line);) {
    if (line.rfind(series + " ", 0) == 0) return std::stod(line.substr(series.size() + 1));
  }
  return std::nullopt;
}

LiveWorker worker(int slot, pid_t pid, bool ready, const std::string& heartbeat) {
  LiveWorker w;
  w.slot = slot;
  w.pid = pid;
  w.ready = ready;
  if (heartbeat != "hb")
    w.stats = std::get<control::Heartbeat>(*control::parse_worker_message(heartbeat)).stats;
  return w;
}

TEST_CASE("a heartbeat updates in-flight, served, rejected, connections and RSS") {
  const WorkerStats stats =
      worker(0, 1, true, "hb inflight=3 served=10 rejected=2 conns=4 rss=1048576").stats;
  CHECK(stats.in_flight == 3);
  CHECK(stats.served == 10);
  CHECK(stats.rejected == 2);
  CHECK(stats.connections == 4);
  CHECK(stats.rss == 1048576);
}

TEST_CASE("desired and ready worker counts are reported as gauges") {
  SupervisorMetrics counters;
  const std::string text =
      counters.render(3, {worker(0, 100, true, "hb"), worker(1, 101, false, "hb")});
  CHECK(sample(text, "gryphon_workers_desired") == 3.0);
  CHECK(sample(text, "gryphon_workers_ready") == 1.0);
  CHECK_THAT(text, Contains("# TYPE gryphon_workers_desired gauge") &&
                       Contains("# TYPE gryphon_workers_ready gauge"));
}

TEST_CASE("each slot reports its worker's in-flight RPCs, connections, RSS and totals") {
  SupervisorMetrics counters;
  const std::string text = counters.render(
      2, {worker(0, 100, true, "hb inflight=1 served=10 rejected=1 conns=2 rss=1000 wtimeouts=6"),
          worker(1, 101, true, "hb inflight=4 served=20 rejected=0 conns=3 rss=2000")});
  CHECK(sample(text, "gryphon_in_flight_rpcs{slot=\"0\"}") == 1.0);
  CHECK(sample(text, "gryphon_in_flight_rpcs{slot=\"1\"}") == 4.0);
  CHECK(sample(text, "gryphon_connections{slot=\"1\"}") == 3.0);
  CHECK(sample(text, "gryphon_worker_resident_memory_bytes{slot=\"0\"}") == 1000.0);
  CHECK(sample(text, "gryphon_rpcs_served_total{slot=\"0\"}") == 10.0);
  CHECK(sample(text, "gryphon_rpcs_served_total{slot=\"1\"}") == 20.0);
  CHECK(sample(text, "gryphon_rpcs_rejected_total{slot=\"0\"}") == 1.0);
  CHECK(sample(text, "gryphon_stream_write_timeouts_total{slot=\"0\"}") == 6.0);
  CHECK(sample(text, "gryphon_stream_write_timeouts_total{slot=\"1\"}") == 0.0);
}

TEST_CASE("two live workers in one slot, old and replacement during a restart, are summed") {
  SupervisorMetrics counters;
  const std::string text = counters.render(
      1, {worker(0, 100, false, "hb inflight=2 served=50 rejected=1 conns=1 rss=1000"),
          worker(0, 200, true, "hb inflight=3 served=5 rejected=2 conns=4 rss=3000")});
  CHECK(sample(text, "gryphon_in_flight_rpcs{slot=\"0\"}") == 5.0);
  CHECK(sample(text, "gryphon_connections{slot=\"0\"}") == 5.0);
  CHECK(sample(text, "gryphon_worker_resident_memory_bytes{slot=\"0\"}") == 4000.0);
  CHECK(sample(text, "gryphon_rpcs_served_total{slot=\"0\"}") == 55.0);
  CHECK(sample(text, "gryphon_rpcs_rejected_total{slot=\"0\"}") == 3.0);
  CHECK(sample(text, "gryphon_workers_ready") == 1.0);
}

TEST_CASE("a slot's served and rejected totals never go down when its worker is replaced") {
  SupervisorMetrics counters;
  const LiveWorker old_worker =
      worker(0, 100, true, "hb inflight=0 served=40 rejected=3 conns=0 rss=1000 wtimeouts=5");
  const std::string before = counters.render(1, {old_worker});

  counters.absorb(0, old_worker.stats);  // the old worker exited
  const std::string between = counters.render(1, {});
  const std::string after = counters.render(
      1, {worker(0, 200, true, "hb inflight=1 served=2 rejected=1 conns=1 rss=900")});

  CHECK(sample(before, "gryphon_rpcs_served_total{slot=\"0\"}") == 40.0);
  CHECK(sample(between, "gryphon_rpcs_served_total{slot=\"0\"}") == 40.0);
  CHECK(sample(after, "gryphon_rpcs_served_total{slot=\"0\"}") == 42.0);
  CHECK(sample(between, "gryphon_rpcs_rejected_total{slot=\"0\"}") == 3.0);
  CHECK(sample(after, "gryphon_rpcs_rejected_total{slot=\"0\"}") == 4.0);
  CHECK(sample(between, "gryphon_stream_write_timeouts_total{slot=\"0\"}") == 5.0);
}

TEST_CASE("an exited worker's gauges do not linger in its slot") {
  SupervisorMetrics counters;
  counters.absorb(
      0, worker(0, 100, true, "hb inflight=7 served=40 rejected=0 conns=9 rss=5000").stats);
  const std::string text = counters.render(1, {});
  CHECK(sample(text, "gryphon_in_flight_rpcs{slot=\"0\"}") == 0.0);
  CHECK(sample(text, "gryphon_connections{slot=\"0\"}") == 0.0);
  CHECK(sample(text, "gryphon_worker_resident_memory_bytes{slot=\"0\"}") == 0.0);
}

TEST_CASE("absorbed totals accumulate over several exits of one slot") {
  SupervisorMetrics counters;
  WorkerStats stats;
  stats.served = 10;
  counters.absorb(1, stats);
  counters.absorb(1, stats);
  counters.absorb(1, stats);
  CHECK(sample(counters.render(2, {}), "gryphon_rpcs_served_total{slot=\"1\"}") == 30.0);
}

TEST_CASE("worker restarts are counted per reason, as a labelled counter") {
  SupervisorMetrics counters;
  counters.restart("crashed");
  counters.restart("max-requests");
  counters.restart("crashed");
  const std::string text = counters.render(1, {});
  CHECK_THAT(text, Contains("# TYPE gryphon_worker_restarts_total counter"));
  CHECK(sample(text, "gryphon_worker_restarts_total{reason=\"crashed\"}") == 2.0);
  CHECK(sample(text, "gryphon_worker_restarts_total{reason=\"max-requests\"}") == 1.0);
}

TEST_CASE("the rendered text passes promtool check metrics") {
  if (std::system("command -v promtool >/dev/null 2>&1") != 0) {
    WARN(
        "promtool is not on PATH (Debian package prometheus): skipping the exposition-format "
        "check");
    return;
  }
  SupervisorMetrics counters;
  counters.restart("crashed");
  counters.absorb(1, worker(1, 90, true, "hb served=12 rejected=1").stats);
  const std::string text = counters.render(
      2, {worker(0, 100, true, "hb inflight=1 served=10 rejected=1 conns=2 rss=1000"),
          worker(1, 101, false, "hb inflight=0 served=3 rejected=0 conns=0 rss=2000")});

  testing::TempDir dir;
  const std::string metrics = dir.write("metrics.txt", text);
  const std::string command = "promtool check metrics < " + metrics + " 2>&1";
  FILE* pipe = ::popen(command.c_str(), "r");
  REQUIRE(pipe != nullptr);
  std::string output;
  char buffer[256];
  while (std::fgets(buffer, sizeof(buffer), pipe) != nullptr) output += buffer;
  const int status = ::pclose(pipe);
  INFO("metrics:\n" << text << "\npromtool:\n" << output);
  REQUIRE(WIFEXITED(status));
  CHECK(WEXITSTATUS(status) == 0);
}

}  // namespace
}  // namespace gryphon::internal
