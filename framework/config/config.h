// gryphon::internal::Config: every runtime option, and the parser that fills it.
//
// Each option can be given as a command-line flag (`--max-connection-age 10s`), as an environment
// variable (`GRYPHON_MAX_CONNECTION_AGE=10s`) and as a key in a TOML file named by `--config`
// (`max-connection-age = "10s"`). Precedence: flag > environment > file > default. Durations take
// a unit (ms, s, m, h; a bare number means seconds); sizes take B, KiB, MiB or GiB.
//
// parse_config() never exits: it returns a ParseResult carrying either the configuration, a
// message to print with exit code 0 (--help, --version), or an error with exit code 2 that names
// the offending option and what to do about it.
#pragma once

#include <chrono>
#include <cstdint>
#include <optional>
#include <string>
#include <vector>

namespace gryphon::internal {

using Duration = std::chrono::milliseconds;

enum class LogFormat { kText, kJson };
enum class AccessLogFormat { kText, kJson, kLtsv };
enum class ClientAuth { kNone, kOptional, kRequire };
// grpc: gRPC C++ 1.51 (the compatibility transport); native: gryphon's own on nghttp2.
enum class TransportKind { kGrpc, kNative };

struct Config {
  // Where to listen: "host:port", "[v6]:port" or "unix:/path". Port 0 picks a free port.
  std::vector<std::string> listen{"0.0.0.0:50051"};
  // Worker processes; 0 runs everything in one process.
  int workers = 0;                 // filled with the number of CPUs by parse_config when not given
  int threads = 16;                // handler pool threads per worker
  int cq_threads = 1;              // completion-queue threads per worker (grpc transport)
  int io_threads = 1;              // event loops per worker (native transport)
  int max_connections = 0;         // soft per-worker connection preference; 0 = off
  int hard_max_connections = 0;    // native: past it the oldest idle one goes; 0 = files less 64
  int max_concurrent_rpcs = 1024;  // per worker; excess fails fast with RESOURCE_EXHAUSTED
  int max_concurrent_streams = 1000;  // HTTP/2 streams per connection (SETTINGS), both transports
  int max_streaming_calls = 0;        // streaming handlers running at once; 0 = 3/4 of threads
  int max_rpcs_per_connection = 256;  // calls running at once on one connection; 0 = no limit
  int max_call_rate_per_connection = 0;   // calls started per second on one connection; 0 = any
  Duration first_message_timeout{10000};  // a call's first message (unary: whole request) in time
  Duration stream_idle_timeout{120000};   // a streaming handler's read() waits this long at most
  Duration write_timeout{30000};  // a connection whose output makes no progress this long closes
  // A stream write that makes no progress this long ends its call. Below --write-timeout, so that
  // a client that stops reading loses the stream, not its whole connection.
  Duration stream_write_timeout{20000};
  Duration shutdown_timeout{30000};
  Duration drain_delay{3000};
  Duration max_connection_age{10000};
  Duration max_connection_age_grace{30000};  // after the age's GOAWAY, calls get this long
  Duration heartbeat_timeout{10000};
  Duration startup_timeout{30000};
  std::uint64_t max_requests = 0;  // recycle a worker after this many RPCs; 0 = never
  std::uint64_t max_requests_jitter = 0;
  std::uint64_t max_memory = 0;  // recycle a worker above this RSS in bytes; 0 = never
  std::string metrics_address = "127.0.0.1:9394";  // empty disables /metrics
  std::string access_log;                          // empty = off, "-" = stdout, else a file path
  AccessLogFormat access_log_format = AccessLogFormat::kText;
  std::string log_level = "info";
  LogFormat log_format = LogFormat::kText;
  std::string log_file;  // empty = stderr
  std::string pid_file;
  std::string tls_cert;
  std::string tls_key;
  std::string tls_client_ca;
  ClientAuth tls_client_auth = ClientAuth::kNone;
  std::uint32_t unix_socket_mode = 0660;
  std::uint64_t max_receive_message_size = 4u << 20;
  std::uint64_t max_send_message_size = 4u << 20;
  std::uint64_t max_metadata_size = 16u << 10;
  Duration handshake_timeout{10000};  // connections that never finish the handshake are closed
  Duration idle_timeout{300000};  // connections with no RPCs for this long get a GOAWAY; 0 = off
  Duration keepalive_min_interval{
      10000};  // client pings more often than this are answered with GOAWAY
  TransportKind transport = TransportKind::kNative;
  bool request_id = true;               // the request-id interceptor (x-request-id in and out)
  bool reflection = true;               // gRPC server reflection (v1alpha and v1) in every worker
  Duration default_deadline{0};         // for unary RPCs that arrive without a deadline; 0 = none
  Duration default_stream_deadline{0};  // for streaming RPCs without one (not built-ins); 0 = none
  int max_open_files = 4096;  // the master refuses to start if RLIMIT_NOFILE cannot hold this
  std::string config_file;    // the TOML file the rest came from, re-read on HUP
};

struct ParseResult {
  std::optional<Config> config;
  int exit_code = 0;        // meaningful when config is empty: 0 for --help/--version, 2 for errors
  std::string message;      // what to print: help text, or one line naming the option at fault
  bool check_only = false;  // --check-config: validate and exit
};

// Parses argv, the GRYPHON_* environment and the config file. `program` names the binary in help.
ParseResult parse_config(int argc, const char* const* argv, const std::string& program);

// "1.5s" -> 1500 ms. Throws std::invalid_argument with a message on a malformed value.
Duration parse_duration(const std::string& text);
// "10s", "1.5s": a duration as the options take it, for messages that name an option. Inline:
// the transports use it without the option parser.
inline std::string option_seconds(Duration duration) {
  std::string text = std::to_string(std::chrono::duration<double>(duration).count());
  text.erase(text.find_last_not_of('0') + 1);
  if (text.back() == '.') text.pop_back();
  return text + "s";
}
// "64MiB" -> 67108864. Throws std::invalid_argument with a message on a malformed value.
std::uint64_t parse_size(const std::string& text);

}  // namespace gryphon::internal
