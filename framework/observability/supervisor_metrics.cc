#include "observability/supervisor_metrics.h"

#include <prometheus/metric_family.h>
#include <prometheus/text_serializer.h>

#include <sstream>

#include "observability/prometheus_text.h"

namespace gryphon::internal {
namespace {

void add(prometheus::MetricFamily& f, double value,
         std::vector<prometheus::ClientMetric::Label> labels = {}) {
  prometheus::ClientMetric metric;
  metric.label = std::move(labels);
  if (f.type == prometheus::MetricType::Counter) {
    metric.counter.value = value;
  } else {
    metric.gauge.value = value;
  }
  f.metric.push_back(std::move(metric));
}

}  // namespace

void SupervisorMetrics::absorb(int slot, const WorkerStats& final_stats) {
  served_[slot] += final_stats.served;
  rejected_[slot] += final_stats.rejected;
  write_timeouts_[slot] += final_stats.write_timeouts;
}

std::string SupervisorMetrics::render(int desired, const std::vector<LiveWorker>& live) const {
  using prometheus::MetricType;
  auto workers_desired = prometheus_family("gryphon_workers_desired",
                                           "Worker slots the master keeps", MetricType::Gauge);
  auto workers_ready = prometheus_family(
      "gryphon_workers_ready", "Workers that are ready and not draining", MetricType::Gauge);
  auto restarts = prometheus_family("gryphon_worker_restarts_total", "Workers replaced, by reason",
                                    MetricType::Counter);
  auto in_flight =
      prometheus_family("gryphon_in_flight_rpcs", "RPCs in flight per slot", MetricType::Gauge);
  auto connections = prometheus_family("gryphon_connections", "Open client connections per slot",
                                       MetricType::Gauge);
  auto rss = prometheus_family("gryphon_worker_resident_memory_bytes", "Resident memory per slot",
                               MetricType::Gauge);
  auto served =
      prometheus_family("gryphon_rpcs_served_total", "RPCs finished per slot", MetricType::Counter);
  auto rejected =
      prometheus_family("gryphon_rpcs_rejected_total",
                        "RPCs rejected by max-concurrent-rpcs per slot", MetricType::Counter);
  auto write_timeouts = prometheus_family(
      "gryphon_stream_write_timeouts_total",
      "Streaming calls ended because a write waited past --stream-write-timeout for the client's "
      "flow-control window, per slot",
      MetricType::Counter);

  add(workers_desired, desired);
  int ready = 0;
  std::map<int, WorkerStats> per_slot;
  for (const auto& [slot, total] : served_) per_slot[slot].served += total;
  for (const auto& [slot, total] : rejected_) per_slot[slot].rejected += total;
  for (const auto& [slot, total] : write_timeouts_) per_slot[slot].write_timeouts += total;
  for (const auto& worker : live) {
    ready += worker.ready ? 1 : 0;
    WorkerStats& s = per_slot[worker.slot];
    s.in_flight += worker.stats.in_flight;
    s.served += worker.stats.served;
    s.rejected += worker.stats.rejected;
    s.write_timeouts += worker.stats.write_timeouts;
    s.connections += worker.stats.connections;
    s.rss += worker.stats.rss;
  }
  add(workers_ready, ready);
  for (const auto& [reason, count] : restarts_)
    add(restarts, static_cast<double>(count), {{"reason", reason}});
  for (const auto& [slot, s] : per_slot) {
    const std::vector<prometheus::ClientMetric::Label> label{{"slot", std::to_string(slot)}};
    add(in_flight, static_cast<double>(s.in_flight), label);
    add(connections, static_cast<double>(s.connections), label);
    add(rss, static_cast<double>(s.rss), label);
    add(served, static_cast<double>(s.served), label);
    add(rejected, static_cast<double>(s.rejected), label);
    add(write_timeouts, static_cast<double>(s.write_timeouts), label);
  }
  std::ostringstream out;
  prometheus::TextSerializer().Serialize(out, {workers_desired, workers_ready, restarts, in_flight,
                                               connections, rss, served, rejected, write_timeouts});
  return out.str();
}

}  // namespace gryphon::internal
