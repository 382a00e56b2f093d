#include "observability/rpc_metrics_store.h"

#include <fcntl.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <unistd.h>

#include <prometheus/metric_family.h>
#include <prometheus/text_serializer.h>

#include <algorithm>
#include <cmath>
#include <cstring>
#include <limits>
#include <map>
#include <sstream>
#include <stdexcept>
#include <thread>

#include "gryphon/interceptor.h"
#include "observability/prometheus_text.h"

namespace gryphon::internal {

static_assert(std::atomic<std::uint64_t>::is_always_lock_free, "shared-memory counters must be lock-free");
static_assert(std::atomic<std::uint32_t>::is_always_lock_free, "shared-memory row states must be lock-free");

namespace {

constexpr char kMagic[8] = {'g', 'r', 'y', 'p', 'h', 'm', 't', '2'};
constexpr const char* kUnknown = "unknown";

enum RowState : std::uint32_t { kFree = 0, kNaming = 1, kNamed = 2 };

// A row for a method the server does not have, named by the first worker that sees it.
struct UnknownRow {
  std::atomic<std::uint32_t> state;
  std::uint8_t service_len;
  std::uint8_t method_len;
  char service[kMaxNameBytes];
  char method[kMaxNameBytes];
  MethodCounters counters;

  std::string_view service_name() const { return {service, service_len}; }
  std::string_view method_name() const { return {method, method_len}; }
};

std::uint64_t fnv1a(std::uint64_t hash, const void* data, std::size_t size) {
  const auto* bytes = static_cast<const unsigned char*>(data);
  for (std::size_t i = 0; i < size; ++i) hash = (hash ^ bytes[i]) * 1099511628211ULL;
  return hash;
}

// Service names are dotted proto identifiers, method names plain ones. Anything else (a scanner's
// path, bytes that are not UTF-8) is counted under `unknown` and never becomes a label value.
bool plain_name(std::string_view name, bool dots) {
  if (name.empty() || name.size() > kMaxNameBytes) return false;
  return std::all_of(name.begin(), name.end(), [dots](char c) {
    return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') || c == '_' || (dots && c == '.');
  });
}

std::size_t round_up(std::size_t bytes, std::size_t to) { return (bytes + to - 1) / to * to; }

}  // namespace

// Laid out at the start of every segment; what follows it is the method directory (type byte,
// 2-byte service length, 2-byte method length, the names), the MethodCounters of each directory
// entry, then kUnknownMethodRows UnknownRows.
struct SlotHeader {
  char magic[8];
  std::uint32_t method_count;
  std::uint32_t unknown_rows;
  std::uint32_t bucket_count;
  std::uint32_t directory_bytes;  // padded to 8
  std::uint64_t layout_hash;
  std::uint64_t total_bytes;
  double bounds[kMaxBuckets];
  std::atomic<std::uint64_t> dropped_log_lines;
};

struct MetricsStore::Segment {
  int fd = -1;
  char* base = nullptr;
  std::size_t bytes = 0;
  std::vector<Method> methods;  // decoded from the directory
  std::vector<double> bounds;

  ~Segment() {
    if (base != nullptr) ::munmap(base, bytes);
    if (fd >= 0) ::close(fd);
  }
  SlotHeader& header() const { return *reinterpret_cast<SlotHeader*>(base); }
  MethodCounters* method(std::size_t index) const {
    return reinterpret_cast<MethodCounters*>(base + sizeof(SlotHeader) + header().directory_bytes) + index;
  }
  UnknownRow* unknown(std::size_t index) const {
    return reinterpret_cast<UnknownRow*>(method(methods.size())) + index;
  }

  // Maps `fd` (taking it over) and checks that the segment is whole and describes itself.
  static std::unique_ptr<Segment> map(int fd) {
    auto segment = std::make_unique<Segment>();
    segment->fd = fd;
    struct stat st {};
    if (::fstat(fd, &st) != 0 || static_cast<std::size_t>(st.st_size) < sizeof(SlotHeader)) {
      throw std::runtime_error("inherited metrics segment fd " + std::to_string(fd) + " is not a metrics segment");
    }
    segment->bytes = static_cast<std::size_t>(st.st_size);
    void* memory = ::mmap(nullptr, segment->bytes, PROT_READ | PROT_WRITE, MAP_SHARED, fd, 0);
    if (memory == MAP_FAILED) throw std::runtime_error(std::string("metrics segment: mmap failed: ") + std::strerror(errno));
    segment->base = static_cast<char*>(memory);
    const SlotHeader& h = segment->header();
    const std::size_t counters_at = sizeof(SlotHeader) + h.directory_bytes;
    const bool whole = std::memcmp(h.magic, kMagic, sizeof(kMagic)) == 0 && h.total_bytes == segment->bytes &&
                       h.bucket_count <= kMaxBuckets && h.unknown_rows == kUnknownMethodRows &&
                       counters_at + h.method_count * sizeof(MethodCounters) + h.unknown_rows * sizeof(UnknownRow) <=
                           segment->bytes;
    if (!whole) throw std::runtime_error("inherited metrics segment fd " + std::to_string(fd) + " has another format");
    const char* at = segment->base + sizeof(SlotHeader);
    const char* end = at + h.directory_bytes;
    for (std::uint32_t i = 0; i < h.method_count; ++i) {
      if (end - at < 5) throw std::runtime_error("inherited metrics segment: truncated method directory");
      const auto type = static_cast<RpcType>(static_cast<unsigned char>(at[0]));
      std::uint16_t service_len, method_len;
      std::memcpy(&service_len, at + 1, 2);
      std::memcpy(&method_len, at + 3, 2);
      at += 5;
      if (end - at < service_len + method_len) throw std::runtime_error("inherited metrics segment: truncated name");
      segment->methods.push_back({std::string(at, service_len), std::string(at + service_len, method_len), type});
      at += service_len + method_len;
    }
    segment->bounds.assign(h.bounds, h.bounds + h.bucket_count);
    return segment;
  }
};

const std::vector<double>& default_buckets() {
  static const std::vector<double> buckets{0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10};
  return buckets;
}

MetricsStore::MetricsStore(std::vector<Method> methods, std::vector<double> buckets)
    : methods_(std::move(methods)), buckets_(std::move(buckets)) {
  if (buckets_.size() > kMaxBuckets) throw std::invalid_argument("at most 32 histogram buckets");
  std::sort(buckets_.begin(), buckets_.end());
  for (double bound : buckets_) bucket_ns_.push_back(std::llround(bound * 1e9));
  std::uint64_t hash = fnv1a(14695981039346656037ULL, kMagic, sizeof(kMagic));
  for (const auto& m : methods_) {
    hash = fnv1a(hash, m.service.data(), m.service.size() + 1);
    hash = fnv1a(hash, m.method.data(), m.method.size() + 1);
    hash = fnv1a(hash, &m.type, sizeof(m.type));
  }
  layout_hash_ = fnv1a(hash, buckets_.data(), buckets_.size() * sizeof(double));
}

MetricsStore::~MetricsStore() = default;

std::size_t MetricsStore::segment_bytes() const {
  std::size_t directory = 0;
  for (const auto& m : methods_) directory += 5 + m.service.size() + m.method.size();
  return round_up(sizeof(SlotHeader) + round_up(directory, 8) + methods_.size() * sizeof(MethodCounters) +
                      kUnknownMethodRows * sizeof(UnknownRow),
                  4096);
}

void MetricsStore::create_segment(int slot) {
  const std::string name = "gryphon-metrics-slot-" + std::to_string(slot);
  const int fd = ::memfd_create(name.c_str(), MFD_CLOEXEC);
  if (fd < 0) throw std::runtime_error(std::string("metrics segment: memfd_create failed: ") + std::strerror(errno));
  const std::size_t bytes = segment_bytes();
  if (::ftruncate(fd, static_cast<off_t>(bytes)) != 0) {
    ::close(fd);
    throw std::runtime_error(std::string("metrics segment: ftruncate failed: ") + std::strerror(errno));
  }
  auto segment = std::make_unique<Segment>();
  segment->fd = fd;
  segment->bytes = bytes;
  void* memory = ::mmap(nullptr, bytes, PROT_READ | PROT_WRITE, MAP_SHARED, fd, 0);
  if (memory == MAP_FAILED) throw std::runtime_error(std::string("metrics segment: mmap failed: ") + std::strerror(errno));
  segment->base = static_cast<char*>(memory);  // zero-filled: every atomic starts at 0
  segment->methods = methods_;
  segment->bounds = buckets_;
  SlotHeader& h = segment->header();
  std::memcpy(h.magic, kMagic, sizeof(kMagic));
  h.method_count = static_cast<std::uint32_t>(methods_.size());
  h.unknown_rows = kUnknownMethodRows;
  h.bucket_count = static_cast<std::uint32_t>(buckets_.size());
  h.layout_hash = layout_hash_;
  h.total_bytes = bytes;
  std::copy(buckets_.begin(), buckets_.end(), h.bounds);
  char* at = segment->base + sizeof(SlotHeader);
  for (const auto& m : methods_) {
    const auto service_len = static_cast<std::uint16_t>(m.service.size());
    const auto method_len = static_cast<std::uint16_t>(m.method.size());
    at[0] = static_cast<char>(m.type);
    std::memcpy(at + 1, &service_len, 2);
    std::memcpy(at + 3, &method_len, 2);
    std::memcpy(at + 5, m.service.data(), service_len);
    std::memcpy(at + 5 + service_len, m.method.data(), method_len);
    at += 5 + service_len + method_len;
  }
  h.directory_bytes = static_cast<std::uint32_t>(round_up(static_cast<std::size_t>(at - (segment->base + sizeof(SlotHeader))), 8));
  UnknownRow& overflow = *segment->unknown(kUnknownMethodRows - 1);
  overflow.service_len = overflow.method_len = static_cast<std::uint8_t>(std::strlen(kUnknown));
  std::memcpy(overflow.service, kUnknown, overflow.service_len);
  std::memcpy(overflow.method, kUnknown, overflow.method_len);
  overflow.state.store(kNamed);
  slots_[static_cast<std::size_t>(slot)] = std::move(segment);
}

void MetricsStore::ensure_slot(int slot) {
  if (slot < 0) return;
  if (slots_.size() <= static_cast<std::size_t>(slot)) slots_.resize(static_cast<std::size_t>(slot) + 1);
  if (!slots_[static_cast<std::size_t>(slot)]) create_segment(slot);
}

MetricsStore::Segment* MetricsStore::slot_segment(int slot) const {
  if (slot < 0 || static_cast<std::size_t>(slot) >= slots_.size()) return nullptr;
  return slots_[static_cast<std::size_t>(slot)].get();
}

MethodCounters* MetricsStore::counters(int slot, std::string_view service, std::string_view method) {
  Segment* segment = slot_segment(slot);
  if (segment == nullptr) return nullptr;
  for (std::size_t i = 0; i < methods_.size(); ++i) {
    if (methods_[i].service == service && methods_[i].method == method) return segment->method(i);
  }
  UnknownRow& overflow = *segment->unknown(kUnknownMethodRows - 1);
  if (!plain_name(service, true) || !plain_name(method, false)) return &overflow.counters;
  for (std::size_t i = 0; i + 1 < kUnknownMethodRows; ++i) {
    UnknownRow& row = *segment->unknown(i);
    std::uint32_t state = row.state.load(std::memory_order_acquire);
    if (state == kFree && row.state.compare_exchange_strong(state, kNaming, std::memory_order_acq_rel)) {
      row.service_len = static_cast<std::uint8_t>(service.size());
      row.method_len = static_cast<std::uint8_t>(method.size());
      std::memcpy(row.service, service.data(), service.size());
      std::memcpy(row.method, method.data(), method.size());
      row.state.store(kNamed, std::memory_order_release);
      return &row.counters;
    }
    // Another worker of this slot is naming the row (a few stores). One killed mid-way leaves it
    // unnamed for good: give up on that row after a while.
    for (int spins = 0; state == kNaming && spins < 10000; ++spins) {
      std::this_thread::yield();
      state = row.state.load(std::memory_order_acquire);
    }
    if (state == kNamed && row.service_name() == service && row.method_name() == method) return &row.counters;
  }
  return &overflow.counters;
}

std::atomic<std::uint64_t>* MetricsStore::dropped_log_lines(int slot) {
  Segment* segment = slot_segment(slot);
  return segment == nullptr ? nullptr : &segment->header().dropped_log_lines;
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
  for (const auto* list : {&slots_, &foreign_}) {
    for (const auto& segment : *list) {
      if (segment) total += segment->header().dropped_log_lines.load();
    }
  }
  return total;
}

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
  bool used() const { return started > 0 || std::any_of(std::begin(handled), std::end(handled), [](auto n) { return n > 0; }); }
};

}  // namespace

std::string MetricsStore::render() const {
  using prometheus::ClientMetric;
  using prometheus::MetricFamily;
  using prometheus::MetricType;

  // The store's own methods come first, in registration order, and are always shown; rows only
  // other segments know (unknown methods, an older binary's methods) follow once used.
  std::vector<RowSums> rows(methods_.size());
  std::map<std::string, std::size_t> index;
  auto row_for = [&](std::string_view service, std::string_view method, const char* type) -> RowSums& {
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
        const Method& m = segment->methods[i];
        RowSums& row = own_layout ? rows[i] : row_for(m.service, m.method, rpc_type_name(m.type));
        row.add(*segment->method(i), same_buckets, buckets_.size());
      }
      for (std::size_t i = 0; i < kUnknownMethodRows; ++i) {
        const UnknownRow& unknown = *segment->unknown(i);
        if (unknown.state.load(std::memory_order_acquire) != kNamed) continue;
        row_for(unknown.service_name(), unknown.method_name(), kUnknown).add(unknown.counters, same_buckets, buckets_.size());
      }
    }
  }

  MetricFamily started = prometheus_family("grpc_server_started_total", "Total number of RPCs started on the server.",
                                           MetricType::Counter);
  MetricFamily handled = prometheus_family(
      "grpc_server_handled_total", "Total number of RPCs completed on the server, regardless of success or failure.",
      MetricType::Counter);
  MetricFamily received = prometheus_family("grpc_server_msg_received_total",
                                            "Total number of RPC stream messages received on the server.",
                                            MetricType::Counter);
  MetricFamily sent = prometheus_family("grpc_server_msg_sent_total",
                                        "Total number of gRPC stream messages sent by the server.", MetricType::Counter);
  MetricFamily seconds = prometheus_family("grpc_server_handling_seconds",
                                           "Histogram of response latency (seconds) of gRPC that had been "
                                           "application-level handled by the server.",
                                           MetricType::Histogram);
  MetricFamily dropped = prometheus_family("gryphon_access_log_dropped_total",
                                           "Access log lines dropped because the writer fell behind", MetricType::Counter);

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
      bucket.upper_bound = b < buckets_.size() ? buckets_[b] : std::numeric_limits<double>::infinity();
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

std::vector<int> MetricsStore::fds() const {
  std::vector<int> fds;
  for (const auto* list : {&slots_, &foreign_}) {
    for (const auto& segment : *list) {
      if (segment) fds.push_back(segment->fd);
    }
  }
  return fds;
}

std::string MetricsStore::describe_for_inheritance() const {
  std::string text;
  auto add = [&text](int slot, int fd) {
    text += (text.empty() ? "" : ",") + std::to_string(slot) + ":" + std::to_string(fd);
  };
  for (std::size_t slot = 0; slot < slots_.size(); ++slot) {
    if (slots_[slot]) add(static_cast<int>(slot), slots_[slot]->fd);
  }
  for (const auto& segment : foreign_) add(-1, segment->fd);
  return text;
}

void MetricsStore::adopt(const std::string& inherited) {
  std::istringstream in(inherited);
  std::string entry;
  while (std::getline(in, entry, ',')) {
    const auto colon = entry.find(':');
    int slot = 0, fd = -1;
    try {
      if (colon == std::string::npos) throw std::invalid_argument(entry);
      slot = std::stoi(entry.substr(0, colon));
      fd = std::stoi(entry.substr(colon + 1));
    } catch (const std::exception&) {
      throw std::runtime_error("inherited metrics segments: cannot parse '" + entry + "'");
    }
    ::fcntl(fd, F_SETFD, FD_CLOEXEC);
    std::unique_ptr<Segment> segment = Segment::map(fd);
    const bool fits = slot >= 0 && segment->header().layout_hash == layout_hash_ && !slot_segment(slot);
    if (fits) {
      if (slots_.size() <= static_cast<std::size_t>(slot)) slots_.resize(static_cast<std::size_t>(slot) + 1);
      slots_[static_cast<std::size_t>(slot)] = std::move(segment);
    } else {
      foreign_.push_back(std::move(segment));
    }
  }
}

std::unique_ptr<MetricsStore> make_metrics_store(const std::vector<ServiceRegistration>& services) {
  std::vector<MetricsStore::Method> methods;
  for (const auto& registration : services) {
    for (const auto& m : registration.info.methods) methods.push_back({registration.info.service, m.method, m.type});
  }
  return std::make_unique<MetricsStore>(std::move(methods), default_buckets());
}

}  // namespace gryphon::internal
