#include "dispatch/trace_context.h"

#include <random>

#include "gryphon/context.h"

namespace gryphon::internal {
namespace {

bool lower_hex(std::string_view text) {
  for (char c : text) {
    if (!((c >= '0' && c <= '9') || (c >= 'a' && c <= 'f'))) return false;
  }
  return true;
}

bool all_zero(std::string_view text) {
  return text.find_first_not_of('0') == std::string::npos;
}

std::string random_hex(std::size_t digits) {
  // Seeded on first use in each thread of each process: workers forked from one master differ.
  thread_local std::mt19937_64 generator{std::random_device{}()};
  static constexpr char kDigits[] = "0123456789abcdef";
  std::string out(digits, '0');
  do {
    for (std::size_t at = 0; at < digits; at += 16) {
      std::uint64_t bits = generator();
      for (std::size_t i = at; i < digits && i < at + 16; ++i, bits >>= 4)
        out[i] = kDigits[bits & 15];
    }
  } while (all_zero(out));
  return out;
}

}  // namespace

std::optional<TraceParent> parse_traceparent(std::string_view value) {
  // 00-<trace id: 32>-<span id: 16>-<flags: 2>
  if (value.size() < 55 || value[2] != '-' || value[35] != '-' || value[52] != '-')
    return std::nullopt;
  const std::string_view version = value.substr(0, 2);
  if (!lower_hex(version) || version == "ff") return std::nullopt;
  if (version == "00" && value.size() != 55) return std::nullopt;
  if (value.size() > 55 && value[55] != '-') return std::nullopt;
  TraceParent parent{std::string(value.substr(3, 32)), std::string(value.substr(36, 16)),
                     std::string(value.substr(53, 2))};
  if (!lower_hex(parent.trace_id) || !lower_hex(parent.span_id) || !lower_hex(parent.flags) ||
      all_zero(parent.trace_id) || all_zero(parent.span_id)) {
    return std::nullopt;
  }
  return parent;
}

std::string format_traceparent(const TraceParent& parent) {
  return "00-" + parent.trace_id + "-" + parent.span_id + "-" + parent.flags;
}

std::string new_trace_id() {
  return random_hex(32);
}
std::string new_span_id() {
  return random_hex(16);
}

}  // namespace gryphon::internal

namespace gryphon {

const std::string& Context::trace_id() const {
  if (!trace_checked_) {
    trace_checked_ = true;
    if (auto header = find_metadata("traceparent")) {
      if (auto parent = internal::parse_traceparent(*header)) {
        trace_id_ = std::move(parent->trace_id);
        trace_flags_ = std::move(parent->flags);
      }
    }
  }
  return trace_id_;
}

const std::string& Context::trace_id_for_downstream() {
  if (trace_id().empty()) {
    trace_id_ = internal::new_trace_id();
    trace_flags_ = "01";
  }
  return trace_id_;
}

}  // namespace gryphon
