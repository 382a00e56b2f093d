// The master↔worker control protocol: every message either side sends, as a type, with the one
// encoding of each (a line of text on the slot's control socket, see control_channel.h).
//
// Master to worker, a Command: kNotServing (health goes NOT_SERVING: the instance is stopping),
// kDrain (drain this slot and exit), kReopen (reopen log files).
// Worker to master, a WorkerMessage: Ready (the readiness check passed), Heartbeat (liveness plus
// the worker's statistics), Draining (a drain began, maybe on the worker's own SIGTERM), Recycle
// (max-requests or max-memory reached: start my replacement), Fatal (why the worker is exiting).
// parse_* returns nullopt for a line that is no message of the protocol.
#pragma once

#include <cstdint>
#include <optional>
#include <string>
#include <string_view>
#include <variant>

namespace gryphon::internal {

// What a worker reports with each heartbeat.
struct WorkerStats {
  std::int64_t in_flight = 0;
  std::uint64_t served = 0;
  std::uint64_t rejected = 0;
  std::uint64_t connections = 0;
  std::uint64_t rss = 0;
  std::uint64_t write_timeouts = 0;  // stream writes ended by --stream-write-timeout
  bool operator==(const WorkerStats&) const = default;
};

namespace control {

enum class Command { kNotServing, kDrain, kReopen };

struct Ready {
  bool operator==(const Ready&) const = default;
};
struct Heartbeat {
  WorkerStats stats;
  bool operator==(const Heartbeat&) const = default;
};
struct Draining {
  bool operator==(const Draining&) const = default;
};
enum class RecycleReason { kRequests, kMemory };
struct Recycle {
  RecycleReason reason = RecycleReason::kRequests;
  bool operator==(const Recycle&) const = default;
};
struct Fatal {
  std::string message;  // one line: newlines are sent as spaces
  bool operator==(const Fatal&) const = default;
};
using WorkerMessage = std::variant<Ready, Heartbeat, Draining, Recycle, Fatal>;

// "requests" or "memory", as restart reasons name them ("recycle_requests").
const char* reason_name(RecycleReason reason);

std::string encode(Command command);
std::optional<Command> parse_command(std::string_view line);
std::string encode(const WorkerMessage& message);
std::optional<WorkerMessage> parse_worker_message(std::string_view line);

}  // namespace control
}  // namespace gryphon::internal
