#include "control/control_protocol.h"

#include <charconv>
#include <cstring>

namespace gryphon::internal::control {
namespace {

constexpr std::string_view kNotServing = "notserving";
constexpr std::string_view kDrain = "drain";
constexpr std::string_view kReopen = "reopen";
constexpr std::string_view kReady = "ready";
constexpr std::string_view kHeartbeat = "hb";
constexpr std::string_view kDraining = "draining";
constexpr std::string_view kRecycle = "recycle";
constexpr std::string_view kFatal = "fatal";

// The heartbeat's fields, in the order they are sent.
struct Field {
  std::string_view name;
  std::uint64_t WorkerStats::*unsigned_member;
};
constexpr Field kFields[] = {{"served", &WorkerStats::served},
                             {"conns", &WorkerStats::connections},
                             {"rss", &WorkerStats::rss},
                             {"rejected", &WorkerStats::rejected},
                             {"wtimeouts", &WorkerStats::write_timeouts}};
constexpr std::string_view kInFlight = "inflight";

// Splits "name rest" at the first space.
std::pair<std::string_view, std::string_view> split_word(std::string_view line) {
  const auto space = line.find(' ');
  if (space == std::string_view::npos) return {line, {}};
  return {line.substr(0, space), line.substr(space + 1)};
}

template <class T>
bool parse_number(std::string_view text, T* out) {
  const auto [end, error] = std::from_chars(text.data(), text.data() + text.size(), *out);
  return error == std::errc() && end == text.data() + text.size();
}

std::optional<WorkerMessage> parse_heartbeat(std::string_view rest) {
  Heartbeat heartbeat;
  while (!rest.empty()) {
    auto [word, tail] = split_word(rest);
    rest = tail;
    const auto eq = word.find('=');
    if (eq == std::string_view::npos) return std::nullopt;
    const std::string_view name = word.substr(0, eq), value = word.substr(eq + 1);
    bool known = false;
    if (name == kInFlight) {
      if (!parse_number(value, &heartbeat.stats.in_flight)) return std::nullopt;
      known = true;
    }
    for (const Field& field : kFields) {
      if (name != field.name) continue;
      if (!parse_number(value, &(heartbeat.stats.*field.unsigned_member))) return std::nullopt;
      known = true;
    }
    if (!known) return std::nullopt;
  }
  return heartbeat;
}

}  // namespace

const char* reason_name(RecycleReason reason) {
  return reason == RecycleReason::kMemory ? "memory" : "requests";
}

std::string encode(Command command) {
  switch (command) {
    case Command::kNotServing: return std::string(kNotServing);
    case Command::kDrain: return std::string(kDrain);
    case Command::kReopen: return std::string(kReopen);
  }
  return {};
}

std::optional<Command> parse_command(std::string_view line) {
  if (line == kNotServing) return Command::kNotServing;
  if (line == kDrain) return Command::kDrain;
  if (line == kReopen) return Command::kReopen;
  return std::nullopt;
}

std::string encode(const WorkerMessage& message) {
  struct Encoder {
    std::string operator()(const Ready&) const { return std::string(kReady); }
    std::string operator()(const Draining&) const { return std::string(kDraining); }
    std::string operator()(const Recycle& recycle) const {
      return std::string(kRecycle) + " " + reason_name(recycle.reason);
    }
    std::string operator()(const Fatal& fatal) const {
      std::string text = std::string(kFatal) + " " + fatal.message;
      for (char& c : text) {
        if (c == '\n' || c == '\r') c = ' ';
      }
      return text;
    }
    std::string operator()(const Heartbeat& heartbeat) const {
      std::string text = std::string(kHeartbeat) + " " + std::string(kInFlight) + "=" +
                         std::to_string(heartbeat.stats.in_flight);
      for (const Field& field : kFields) {
        text += " " + std::string(field.name) + "=" +
                std::to_string(heartbeat.stats.*field.unsigned_member);
      }
      return text;
    }
  };
  return std::visit(Encoder{}, message);
}

std::optional<WorkerMessage> parse_worker_message(std::string_view line) {
  const auto [kind, rest] = split_word(line);
  if (kind == kReady && rest.empty()) return Ready{};
  if (kind == kDraining && rest.empty()) return Draining{};
  if (kind == kHeartbeat) return parse_heartbeat(rest);
  if (kind == kRecycle) {
    if (rest == "requests") return Recycle{RecycleReason::kRequests};
    if (rest == "memory") return Recycle{RecycleReason::kMemory};
    return std::nullopt;
  }
  if (kind == kFatal) return Fatal{rest.empty() ? "unknown error" : std::string(rest)};
  return std::nullopt;
}

}  // namespace gryphon::internal::control
