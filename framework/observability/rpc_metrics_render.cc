#include <prometheus/metric_family.h>
#include <prometheus/text_serializer.h>

#include <limits>
#include <map>
#include <sstream>

#include "gryphon/interceptor.h"
#include "observability/prometheus_text.h"
#include "observability/rpc_metrics_layout.h"

// RpcMetricsStore::render: one scrape, summing every segment by label set.
namespace gryphon::internal {

namespace {

// One label set's totals while a scrape sums the segments.
struct RowSums {
  std::string service, method, type;
  std::uint64_t started = 0, received = 0, sent = 0, duration_ns = 0;
  std::uint64_t handled[kStatusCodes] = {};
  std::uint64_t buckets[kMaxBuckets + 1] = {};

  void add(const MethodCounters& c, bool with_histogram, std::size_t bucket_count) {
    // Read handled first: record() bumps it last, so the other counters are at least as new.
    for (int code = 0; code < kStatusCodes; ++code) handled[code] += c.handled[code].load();
    started += c.started.load();
    received += c.messages_received.load();
    sent += c.messages_sent.load();
    if (!with_histogram) return;
    duration_ns += c.duration_ns_sum.load();
    for (std::size_t b = 0; b <= bucket_count; ++b) buckets[b] += c.buckets[b].load();
  }
  bool used() const {
    return started > 0 ||
           std::any_of(std::begin(handled), std::end(handled), [](auto n) { return n > 0; });
  }
};

}  // namespace

std::string RpcMetricsStore::render() const {
  using prometheus::ClientMetric;
  using prometheus::MetricFamily;
  using prometheus::MetricType;

  // The store's own methods come first, in registration order, and are always shown; rows only
  // other segments know (unknown methods, an older binary's methods) follow once used.
  std::vector<RowSums> rows(methods_.size());
  std::map<std::string, std::size_t> index;
  auto row_for = [&](std::string_view service, std::string_view method,
                     const char* type) -> RowSums& {
    std::string key = std::string(service) + '\0' + std::string(method) + '\0' + type;
    auto [it, added] = index.try_emplace(std::move(key), rows.size());
    if (added) rows.push_back(RowSums{std::string(service), std::string(method), type});
    return rows[it->second];
  };
  for (std::size_t i = 0; i < methods_.size(); ++i) {
    rows[i].service = methods_[i].service;
    rows[i].method = methods_[i].method;
    rows[i].type = rpc_type_name(methods_[i].type);
    index.emplace(rows[i].service + '\0' + rows[i].method + '\0' + rows[i].type, i);
  }
  for (const auto* list : {&slots_, &foreign_}) {
    for (const auto& segment : *list) {
      if (!segment) continue;
      const bool own_layout = segment->header().layout_hash == layout_hash_;
      const bool same_buckets = segment->bounds == buckets_;
      for (std::size_t i = 0; i < segment->methods.size(); ++i) {
        const MethodLabels& m = segment->methods[i];
        RowSums& row = own_layout ? rows[i] : row_for(m.service, m.method, rpc_type_name(m.type));
        row.add(*segment->method(i), same_buckets, buckets_.size());
      }
      for (std::size_t i = 0; i < kUnknownMethodRows; ++i) {
        const UnknownRow& unknown = *segment->unknown(i);
        if (unknown.state.load(std::memory_order_acquire) != kNamed) continue;
        row_for(unknown.service_name(), unknown.method_name(), kUnknown)
            .add(unknown.counters, same_buckets, buckets_.size());
      }
    }
  }

  MetricFamily started =
      prometheus_family("grpc_server_started_total", "Total number of RPCs started on the server.",
                        MetricType::Counter);
  MetricFamily handled = prometheus_family(
      "grpc_server_handled_total",
      "Total number of RPCs completed on the server, regardless of success or failure.",
      MetricType::Counter);
  MetricFamily received = prometheus_family(
      "grpc_server_msg_received_total",
      "Total number of RPC stream messages received on the server.", MetricType::Counter);
  MetricFamily sent = prometheus_family("grpc_server_msg_sent_total",
                                        "Total number of gRPC stream messages sent by the server.",
                                        MetricType::Counter);
  MetricFamily seconds =
      prometheus_family("grpc_server_handling_seconds",
                        "Histogram of response latency (seconds) of gRPC that had been "
                        "application-level handled by the server.",
                        MetricType::Histogram);
  MetricFamily dropped = prometheus_family(
      "gryphon_access_log_dropped_total", "Access log lines dropped because the writer fell behind",
      MetricType::Counter);

  for (std::size_t r = 0; r < rows.size(); ++r) {
    const RowSums& row = rows[r];
    if (r >= methods_.size() && !row.used()) continue;
    const std::vector<ClientMetric::Label> labels{
        {"grpc_method", row.method}, {"grpc_service", row.service}, {"grpc_type", row.type}};
    auto add = [&](MetricFamily& f, double value, std::vector<ClientMetric::Label> extra = {}) {
      ClientMetric metric;
      metric.label = labels;
      metric.label.insert(metric.label.begin(), extra.begin(), extra.end());
      metric.counter.value = value;
      f.metric.push_back(std::move(metric));
    };
    add(started, static_cast<double>(row.started));
    add(received, static_cast<double>(row.received));
    add(sent, static_cast<double>(row.sent));
    for (int code = 0; code < kStatusCodes; ++code) {
      add(handled, static_cast<double>(row.handled[code]),
          {{"grpc_code", code_name(static_cast<grpc::StatusCode>(code))}});
    }
    ClientMetric histogram;
    histogram.label = labels;
    std::uint64_t cumulative = 0;
    for (std::size_t b = 0; b <= buckets_.size(); ++b) {
      cumulative += row.buckets[b];
      ClientMetric::Bucket bucket;
      bucket.cumulative_count = cumulative;
      bucket.upper_bound =
          b < buckets_.size() ? buckets_[b] : std::numeric_limits<double>::infinity();
      histogram.histogram.bucket.push_back(bucket);
    }
    histogram.histogram.sample_count = cumulative;
    histogram.histogram.sample_sum = static_cast<double>(row.duration_ns) / 1e9;
    seconds.metric.push_back(std::move(histogram));
  }
  ClientMetric dropped_metric;
  dropped_metric.counter.value = static_cast<double>(dropped_log_lines());
  dropped.metric.push_back(dropped_metric);

  std::ostringstream out;
  prometheus::TextSerializer().Serialize(out, {started, handled, received, sent, seconds, dropped});
  return out.str();
}

}  // namespace gryphon::internal
