// The layout of one metrics segment (rpc_metrics_store.h), for the store and its renderer: a
// SlotHeader, the method directory, a MethodCounters per directory entry, then the rows for
// methods the server does not have. Private to observability/.
#pragma once

#include <sys/mman.h>
#include <sys/stat.h>
#include <unistd.h>

#include <algorithm>
#include <cstring>
#include <memory>
#include <stdexcept>
#include <string>
#include <string_view>
#include <vector>

#include "observability/rpc_metrics_store.h"

namespace gryphon::internal {

namespace segment_layout {

inline constexpr char kMagic[8] = {'g', 'r', 'y', 'p', 'h', 'm', 't', '2'};
inline constexpr const char* kUnknown = "unknown";

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

inline std::uint64_t fnv1a(std::uint64_t hash, const void* data, std::size_t size) {
  const auto* bytes = static_cast<const unsigned char*>(data);
  for (std::size_t i = 0; i < size; ++i) hash = (hash ^ bytes[i]) * 1099511628211ULL;
  return hash;
}

// Service names are dotted proto identifiers, method names plain ones. Anything else (a scanner's
// path, bytes that are not UTF-8) is counted under `unknown` and never becomes a label value.
inline bool plain_name(std::string_view name, bool dots) {
  if (name.empty() || name.size() > kMaxNameBytes) return false;
  return std::all_of(name.begin(), name.end(), [dots](char c) {
    return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') || c == '_' ||
           (dots && c == '.');
  });
}

inline std::size_t round_up(std::size_t bytes, std::size_t to) {
  return (bytes + to - 1) / to * to;
}

}  // namespace segment_layout

using namespace segment_layout;

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

struct RpcMetricsStore::Segment {
  int fd = -1;
  char* base = nullptr;
  std::size_t bytes = 0;
  std::vector<MethodLabels> methods;  // decoded from the directory
  std::vector<double> bounds;

  ~Segment() {
    if (base != nullptr) ::munmap(base, bytes);
    if (fd >= 0) ::close(fd);
  }
  SlotHeader& header() const { return *reinterpret_cast<SlotHeader*>(base); }
  MethodCounters* method(std::size_t index) const {
    return reinterpret_cast<MethodCounters*>(base + sizeof(SlotHeader) + header().directory_bytes) +
           index;
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
      throw std::runtime_error("inherited metrics segment fd " + std::to_string(fd) +
                               " is not a metrics segment");
    }
    segment->bytes = static_cast<std::size_t>(st.st_size);
    void* memory = ::mmap(nullptr, segment->bytes, PROT_READ | PROT_WRITE, MAP_SHARED, fd, 0);
    if (memory == MAP_FAILED)
      throw std::runtime_error(std::string("metrics segment: mmap failed: ") +
                               std::strerror(errno));
    segment->base = static_cast<char*>(memory);
    const SlotHeader& h = segment->header();
    const std::size_t counters_at = sizeof(SlotHeader) + h.directory_bytes;
    const bool whole = std::memcmp(h.magic, kMagic, sizeof(kMagic)) == 0 &&
                       h.total_bytes == segment->bytes && h.bucket_count <= kMaxBuckets &&
                       h.unknown_rows == kUnknownMethodRows &&
                       counters_at + h.method_count * sizeof(MethodCounters) +
                               h.unknown_rows * sizeof(UnknownRow) <=
                           segment->bytes;
    if (!whole)
      throw std::runtime_error("inherited metrics segment fd " + std::to_string(fd) +
                               " has another format");
    const char* at = segment->base + sizeof(SlotHeader);
    const char* end = at + h.directory_bytes;
    for (std::uint32_t i = 0; i < h.method_count; ++i) {
      if (end - at < 5)
        throw std::runtime_error("inherited metrics segment: truncated method directory");
      const auto type = static_cast<RpcType>(static_cast<unsigned char>(at[0]));
      std::uint16_t service_len, method_len;
      std::memcpy(&service_len, at + 1, 2);
      std::memcpy(&method_len, at + 3, 2);
      at += 5;
      if (end - at < service_len + method_len)
        throw std::runtime_error("inherited metrics segment: truncated name");
      segment->methods.push_back(
          {std::string(at, service_len), std::string(at + service_len, method_len), type});
      at += service_len + method_len;
    }
    segment->bounds.assign(h.bounds, h.bounds + h.bucket_count);
    return segment;
  }
};

}  // namespace gryphon::internal
