#include "metrics_store.h"

#include <sys/mman.h>

#include <prometheus/metric_family.h>
#include <prometheus/text_serializer.h>

#include <algorithm>
#include <cmath>
#include <cstring>
#include <sstream>
#include <stdexcept>

#include "gryphon/interceptor.h"

namespace gryphon::internal {

static_assert(std::atomic<std::uint64_t>::is_always_lock_free, "shared-memory counters must be lock-free");

const std::vector<double>& default_buckets() {
  static const std::vector<double> buckets{0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10};
  return buckets;
}

MetricsStore::MetricsStore(std::vector<Method> methods, std::vector<double> buckets)
    : methods_(std::move(methods)), buckets_(std::move(buckets)) {
  if (buckets_.size() > kMaxBuckets) throw std::invalid_argument("at most 32 histogram buckets");
  std::sort(buckets_.begin(), buckets_.end());
  for (double bound : buckets_) bucket_ns_.push_back(std::llround(bound * 1e9));
}

MetricsStore::~MetricsStore() {
  for (char* segment : segments_) {
    if (segment != nullptr) ::munmap(segment, slot_bytes());
  }
}

std::size_t MetricsStore::slot_bytes() const {
  const std::size_t bytes = sizeof(SlotHeader) + methods_.size() * sizeof(MethodCounters);
  const std::size_t page = 4096;
  return (bytes + page - 1) / page * page;
}

MethodCounters* MetricsStore::method_at(char* segment, std::size_t index) const {
  return reinterpret_cast<MethodCounters*>(segment + sizeof(SlotHeader)) + index;
}

void MetricsStore::ensure_slot(int slot) {
  if (slot < 0) return;
  if (segments_.size() <= static_cast<std::size_t>(slot)) segments_.resize(static_cast<std::size_t>(slot) + 1, nullptr);
  if (segments_[static_cast<std::size_t>(slot)] != nullptr) return;
  void* memory = ::mmap(nullptr, slot_bytes(), PROT_READ | PROT_WRITE, MAP_SHARED | MAP_ANONYMOUS, -1, 0);
  if (memory == MAP_FAILED) throw std::runtime_error(std::string("metrics segment: mmap failed: ") + std::strerror(errno));
  // Anonymous mappings are zero-filled, which is every atomic's initial value.
  segments_[static_cast<std::size_t>(slot)] = static_cast<char*>(memory);
}

MethodCounters* MetricsStore::counters(int slot, const std::string& service, const std::string& method) {
  if (slot < 0 || static_cast<std::size_t>(slot) >= segments_.size() || segments_[static_cast<std::size_t>(slot)] == nullptr) {
    return nullptr;
  }
  for (std::size_t i = 0; i < methods_.size(); ++i) {
    if (methods_[i].service == service && methods_[i].method == method) {
      return method_at(segments_[static_cast<std::size_t>(slot)], i);
    }
  }
  return nullptr;
}

SlotHeader* MetricsStore::header(int slot) {
  if (slot < 0 || static_cast<std::size_t>(slot) >= segments_.size()) return nullptr;
  return reinterpret_cast<SlotHeader*>(segments_[static_cast<std::size_t>(slot)]);
}

void MetricsStore::record(MethodCounters& c, grpc::StatusCode code, std::uint64_t messages_received,
                          std::uint64_t messages_sent, std::chrono::nanoseconds duration) const {
  constexpr auto relaxed = std::memory_order_relaxed;
  const int index = static_cast<int>(code) >= 0 && static_cast<int>(code) < kStatusCodes ? static_cast<int>(code) : 2;
  c.messages_received.fetch_add(messages_received, relaxed);
  c.messages_sent.fetch_add(messages_sent, relaxed);
  // The first bucket whose bound is at least the duration (le="bound" counts durations <= bound).
  const std::size_t bucket = static_cast<std::size_t>(
      std::lower_bound(bucket_ns_.begin(), bucket_ns_.end(), static_cast<long long>(duration.count())) -
      bucket_ns_.begin());
  c.buckets[bucket].fetch_add(1, relaxed);
  c.duration_ns_sum.fetch_add(static_cast<std::uint64_t>(duration.count()), relaxed);
  c.handled[index].fetch_add(1, relaxed);  // last: a scrape never sees handled ahead of the histogram
}

std::uint64_t MetricsStore::dropped_log_lines() const {
  std::uint64_t total = 0;
  for (char* segment : segments_) {
    if (segment != nullptr) total += reinterpret_cast<SlotHeader*>(segment)->dropped_log_lines.load();
  }
  return total;
}

std::string MetricsStore::render() const {
  using prometheus::ClientMetric;
  using prometheus::MetricFamily;
  using prometheus::MetricType;
  auto family = [](const char* name, const char* help, MetricType type) {
    MetricFamily f;
    f.name = name;
    f.help = help;
    f.type = type;
    return f;
  };
  MetricFamily started = family("grpc_server_started_total", "Total number of RPCs started on the server.",
                                MetricType::Counter);
  MetricFamily handled = family("grpc_server_handled_total",
                                "Total number of RPCs completed on the server, regardless of success or failure.",
                                MetricType::Counter);
  MetricFamily received = family("grpc_server_msg_received_total",
                                 "Total number of RPC stream messages received on the server.", MetricType::Counter);
  MetricFamily sent = family("grpc_server_msg_sent_total", "Total number of gRPC stream messages sent by the server.",
                             MetricType::Counter);
  MetricFamily seconds = family("grpc_server_handling_seconds",
                                "Histogram of response latency (seconds) of gRPC that had been application-level "
                                "handled by the server.",
                                MetricType::Histogram);
  MetricFamily dropped = family("gryphon_access_log_dropped_total",
                                "Access log lines dropped because the writer fell behind", MetricType::Counter);

  for (std::size_t i = 0; i < methods_.size(); ++i) {
    const Method& m = methods_[i];
    std::uint64_t started_sum = 0, received_sum = 0, sent_sum = 0, duration_sum = 0;
    std::uint64_t handled_sum[kStatusCodes] = {};
    std::uint64_t bucket_sum[kMaxBuckets + 1] = {};
    for (char* segment : segments_) {
      if (segment == nullptr) continue;
      const MethodCounters* c = method_at(segment, i);
      // Read handled first: record() bumps it last, so the other counters are at least as new.
      for (int code = 0; code < kStatusCodes; ++code) handled_sum[code] += c->handled[code].load();
      started_sum += c->started.load();
      received_sum += c->messages_received.load();
      sent_sum += c->messages_sent.load();
      duration_sum += c->duration_ns_sum.load();
      for (std::size_t b = 0; b <= buckets_.size(); ++b) bucket_sum[b] += c->buckets[b].load();
    }
    const std::vector<ClientMetric::Label> labels{
        {"grpc_method", m.method}, {"grpc_service", m.service}, {"grpc_type", rpc_type_name(m.type)}};
    auto add = [&](MetricFamily& f, double value, std::vector<ClientMetric::Label> extra = {}) {
      ClientMetric metric;
      metric.label = labels;
      metric.label.insert(metric.label.begin(), extra.begin(), extra.end());
      metric.counter.value = value;
      f.metric.push_back(std::move(metric));
    };
    add(started, static_cast<double>(started_sum));
    add(received, static_cast<double>(received_sum));
    add(sent, static_cast<double>(sent_sum));
    for (int code = 0; code < kStatusCodes; ++code) {
      add(handled, static_cast<double>(handled_sum[code]),
          {{"grpc_code", code_name(static_cast<grpc::StatusCode>(code))}});
    }
    ClientMetric histogram;
    histogram.label = labels;
    std::uint64_t cumulative = 0;
    for (std::size_t b = 0; b <= buckets_.size(); ++b) {
      cumulative += bucket_sum[b];
      ClientMetric::Bucket bucket;
      bucket.cumulative_count = cumulative;
      bucket.upper_bound = b < buckets_.size() ? buckets_[b] : std::numeric_limits<double>::infinity();
      histogram.histogram.bucket.push_back(bucket);
    }
    histogram.histogram.sample_count = cumulative;
    histogram.histogram.sample_sum = static_cast<double>(duration_sum) / 1e9;
    seconds.metric.push_back(std::move(histogram));
  }
  ClientMetric dropped_metric;
  dropped_metric.counter.value = static_cast<double>(dropped_log_lines());
  dropped.metric.push_back(dropped_metric);

  std::ostringstream out;
  prometheus::TextSerializer().Serialize(out, {started, handled, received, sent, seconds, dropped});
  return out.str();
}

std::unique_ptr<MetricsStore> make_metrics_store(const std::vector<ServiceRegistration>& services) {
  std::vector<MetricsStore::Method> methods;
  for (const auto& registration : services) {
    for (const auto& m : registration.info.methods) methods.push_back({registration.info.service, m.method, m.type});
  }
  return std::make_unique<MetricsStore>(std::move(methods), default_buckets());
}

}  // namespace gryphon::internal
