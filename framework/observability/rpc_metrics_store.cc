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

#include "observability/rpc_metrics_layout.h"

namespace gryphon::internal {

static_assert(std::atomic<std::uint64_t>::is_always_lock_free,
              "shared-memory counters must be lock-free");
static_assert(std::atomic<std::uint32_t>::is_always_lock_free,
              "shared-memory row states must be lock-free");

const std::vector<double>& default_buckets() {
  static const std::vector<double> buckets{0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10};
  return buckets;
}

RpcMetricsStore::RpcMetricsStore(std::vector<MethodLabels> methods, std::vector<double> buckets)
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

RpcMetricsStore::~RpcMetricsStore() = default;

std::size_t RpcMetricsStore::segment_bytes() const {
  std::size_t directory = 0;
  for (const auto& m : methods_) directory += 5 + m.service.size() + m.method.size();
  return round_up(sizeof(SlotHeader) + round_up(directory, 8) +
                      methods_.size() * sizeof(MethodCounters) +
                      kUnknownMethodRows * sizeof(UnknownRow),
                  4096);
}

void RpcMetricsStore::create_segment(int slot) {
  const std::string name = "gryphon-metrics-slot-" + std::to_string(slot);
  const int fd = ::memfd_create(name.c_str(), MFD_CLOEXEC);
  if (fd < 0)
    throw std::runtime_error(std::string("metrics segment: memfd_create failed: ") +
                             std::strerror(errno));
  const std::size_t bytes = segment_bytes();
  if (::ftruncate(fd, static_cast<off_t>(bytes)) != 0) {
    ::close(fd);
    throw std::runtime_error(std::string("metrics segment: ftruncate failed: ") +
                             std::strerror(errno));
  }
  auto segment = std::make_unique<Segment>();
  segment->fd = fd;
  segment->bytes = bytes;
  void* memory = ::mmap(nullptr, bytes, PROT_READ | PROT_WRITE, MAP_SHARED, fd, 0);
  if (memory == MAP_FAILED)
    throw std::runtime_error(std::string("metrics segment: mmap failed: ") + std::strerror(errno));
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
  h.directory_bytes = static_cast<std::uint32_t>(
      round_up(static_cast<std::size_t>(at - (segment->base + sizeof(SlotHeader))), 8));
  UnknownRow& overflow = *segment->unknown(kUnknownMethodRows - 1);
  overflow.service_len = overflow.method_len = static_cast<std::uint8_t>(std::strlen(kUnknown));
  std::memcpy(overflow.service, kUnknown, overflow.service_len);
  std::memcpy(overflow.method, kUnknown, overflow.method_len);
  overflow.state.store(kNamed);
  slots_[static_cast<std::size_t>(slot)] = std::move(segment);
}

void RpcMetricsStore::ensure_slot(int slot) {
  if (slot < 0) return;
  if (slots_.size() <= static_cast<std::size_t>(slot))
    slots_.resize(static_cast<std::size_t>(slot) + 1);
  if (!slots_[static_cast<std::size_t>(slot)]) create_segment(slot);
}

RpcMetricsStore::Segment* RpcMetricsStore::slot_segment(int slot) const {
  if (slot < 0 || static_cast<std::size_t>(slot) >= slots_.size()) return nullptr;
  return slots_[static_cast<std::size_t>(slot)].get();
}

MethodCounters* RpcMetricsStore::counters(int slot, std::string_view service,
                                          std::string_view method) {
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
    if (state == kFree &&
        row.state.compare_exchange_strong(state, kNaming, std::memory_order_acq_rel)) {
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
    if (state == kNamed && row.service_name() == service && row.method_name() == method)
      return &row.counters;
  }
  return &overflow.counters;
}

std::atomic<std::uint64_t>* RpcMetricsStore::dropped_log_lines(int slot) {
  Segment* segment = slot_segment(slot);
  return segment == nullptr ? nullptr : &segment->header().dropped_log_lines;
}

void RpcMetricsStore::record(MethodCounters& c, grpc::StatusCode code,
                             std::uint64_t messages_received, std::uint64_t messages_sent,
                             std::chrono::nanoseconds duration) const {
  constexpr auto relaxed = std::memory_order_relaxed;
  const int index = static_cast<int>(code) >= 0 && static_cast<int>(code) < kStatusCodes
                        ? static_cast<int>(code)
                        : 2;
  c.messages_received.fetch_add(messages_received, relaxed);
  c.messages_sent.fetch_add(messages_sent, relaxed);
  // The first bucket whose bound is at least the duration (le="bound" counts durations <= bound).
  const std::size_t bucket =
      static_cast<std::size_t>(std::lower_bound(bucket_ns_.begin(), bucket_ns_.end(),
                                                static_cast<long long>(duration.count())) -
                               bucket_ns_.begin());
  c.buckets[bucket].fetch_add(1, relaxed);
  c.duration_ns_sum.fetch_add(static_cast<std::uint64_t>(duration.count()), relaxed);
  c.handled[index].fetch_add(1,
                             relaxed);  // last: a scrape never sees handled ahead of the histogram
}

std::uint64_t RpcMetricsStore::dropped_log_lines() const {
  std::uint64_t total = 0;
  for (const auto* list : {&slots_, &foreign_}) {
    for (const auto& segment : *list) {
      if (segment) total += segment->header().dropped_log_lines.load();
    }
  }
  return total;
}

std::vector<int> RpcMetricsStore::fds() const {
  std::vector<int> fds;
  for (const auto* list : {&slots_, &foreign_}) {
    for (const auto& segment : *list) {
      if (segment) fds.push_back(segment->fd);
    }
  }
  return fds;
}

std::string RpcMetricsStore::describe_for_inheritance() const {
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

void RpcMetricsStore::adopt(const std::string& inherited) {
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
    const bool fits =
        slot >= 0 && segment->header().layout_hash == layout_hash_ && !slot_segment(slot);
    if (fits) {
      if (slots_.size() <= static_cast<std::size_t>(slot))
        slots_.resize(static_cast<std::size_t>(slot) + 1);
      slots_[static_cast<std::size_t>(slot)] = std::move(segment);
    } else {
      foreign_.push_back(std::move(segment));
    }
  }
}

std::unique_ptr<RpcMetricsStore> make_metrics_store(
    const std::vector<ServiceRegistration>& services) {
  std::vector<MethodLabels> methods;
  for (const auto& registration : services) {
    for (const auto& m : registration.info.methods)
      methods.push_back({registration.info.service, m.method, m.type});
  }
  return std::make_unique<RpcMetricsStore>(std::move(methods), default_buckets());
}

}  // namespace gryphon::internal
