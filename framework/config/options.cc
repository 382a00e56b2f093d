// Option table, precedence (flag > environment > file > default) and validation.
//
// CLI11 parses the command line and produces --help; the environment and the TOML file are merged
// here rather than through CLI11, whose 2.1.2 release applies the file over the environment and
// exits with its own code on unknown flags. Every error names the option and ends up as exit 2.
#include "config/options.h"

#include <CLI/CLI.hpp>

#include <algorithm>
#include <cctype>
#include <charconv>
#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <functional>
#include <map>
#include <stdexcept>
#include <thread>

#include "config/listen_address.h"

namespace gryphon::internal {
namespace {

std::int64_t parse_int(const std::string& text, std::int64_t min, std::int64_t max) {
  std::int64_t value = 0;
  const std::string t = trim(text);
  auto [end, ec] = std::from_chars(t.data(), t.data() + t.size(), value);
  if (ec != std::errc() || end != t.data() + t.size() || t.empty()) {
    throw std::invalid_argument("'" + text + "' is not a whole number");
  }
  if (value < min || value > max) {
    throw std::invalid_argument(std::to_string(value) + " is out of range [" + std::to_string(min) +
                                ", " + std::to_string(max) + "]");
  }
  return value;
}

// Splits "123unit" into its number and unit.

const Values& single(const Values& values) {
  if (values.size() != 1) throw std::invalid_argument("takes exactly one value");
  return values;
}

Apply int_option(int Config::*field, int min, int max) {
  return [=](Config& c, const Values& v) {
    c.*field = static_cast<int>(parse_int(single(v)[0], min, max));
  };
}
Apply u64_option(std::uint64_t Config::*field) {
  return [=](Config& c, const Values& v) {
    c.*field = static_cast<std::uint64_t>(parse_int(single(v)[0], 0, INT64_MAX));
  };
}
Apply duration_option(Duration Config::*field) {
  return [=](Config& c, const Values& v) { c.*field = parse_duration(single(v)[0]); };
}
Apply size_option(std::uint64_t Config::*field) {
  return [=](Config& c, const Values& v) { c.*field = parse_size(single(v)[0]); };
}
Apply string_option(std::string Config::*field) {
  return [=](Config& c, const Values& v) { c.*field = single(v)[0]; };
}
template <class E>
Apply enum_option(E Config::*field, std::vector<std::pair<std::string, E>> choices) {
  return [=](Config& c, const Values& v) {
    for (const auto& [name, value] : choices) {
      if (single(v)[0] == name) {
        c.*field = value;
        return;
      }
    }
    std::string names;
    for (const auto& choice : choices) names += (names.empty() ? "" : ", ") + choice.first;
    throw std::invalid_argument("'" + v[0] + "' is not one of: " + names);
  };
}

}  // namespace

std::pair<double, std::string> number_and_unit(const std::string& text, const char* what) {
  const std::string t = trim(text);
  std::size_t i = 0;
  while (i < t.size() && (std::isdigit(static_cast<unsigned char>(t[i])) || t[i] == '.')) ++i;
  if (i == 0) throw std::invalid_argument("'" + text + "' is not a " + what);
  double number = 0;
  auto [end, ec] = std::from_chars(t.data(), t.data() + i, number);
  if (ec != std::errc() || end != t.data() + i) {
    throw std::invalid_argument("'" + text + "' is not a " + what);
  }
  return {number, trim(t.substr(i))};
}

std::string env_name(const std::string& option) {
  std::string out = "GRYPHON_";
  for (char c : option) out += c == '-' ? '_' : static_cast<char>(std::toupper(c));
  return out;
}

std::string trim(std::string s) {
  auto not_space = [](unsigned char c) { return !std::isspace(c); };
  s.erase(s.begin(), std::find_if(s.begin(), s.end(), not_space));
  s.erase(std::find_if(s.rbegin(), s.rend(), not_space).base(), s.end());
  return s;
}

std::vector<OptionSpec> option_specs() {
  const Config d;
  auto ms = [](Duration value) {
    return value.count() % 1000 == 0 ? std::to_string(value.count() / 1000) + "s"
                                     : std::to_string(value.count()) + "ms";
  };
  return {
      {"listen",
       "address to serve on: host:port, [v6]:port or unix:/path; repeatable (env: comma-separated)",
       "0.0.0.0:50051", true,
       [](Config& c, const Values& v) {
         c.listen.clear();
         for (const auto& item : v) {
           ListenAddress::parse(item);  // throws with a message on a malformed address
           c.listen.push_back(item);
         }
         if (c.listen.empty()) throw std::invalid_argument("needs at least one address");
       }},
      {"workers", "worker processes; 0 serves from the master process itself", "number of CPUs",
       false, int_option(&Config::workers, 0, 1024)},
      {"threads", "handler pool threads per worker (blocking handlers run here)",
       std::to_string(d.threads), false, int_option(&Config::threads, 1, 4096)},
      {"cq-threads", "completion-queue threads per worker (grpc transport)",
       std::to_string(d.cq_threads), false, int_option(&Config::cq_threads, 1, 64)},
      {"io-threads", "event loops per worker, each owning its connections (native transport)",
       std::to_string(d.io_threads), false, int_option(&Config::io_threads, 1, 64)},
      {"max-connections",
       "per-worker connection count above which a worker lets others accept first; 0 = off",
       std::to_string(d.max_connections), false, int_option(&Config::max_connections, 0, 1 << 20)},
      {"hard-max-connections",
       "per-worker connection cap (native transport): a new connection past it closes the oldest "
       "idle one, or is closed itself if none is idle; 0 = the open-file limit less 64",
       "0", false, int_option(&Config::hard_max_connections, 0, 1 << 24)},
      {"max-concurrent-rpcs", "RPCs in flight per worker; more fail fast with RESOURCE_EXHAUSTED",
       std::to_string(d.max_concurrent_rpcs), false,
       int_option(&Config::max_concurrent_rpcs, 1, 1 << 24)},
      {"max-concurrent-streams", "HTTP/2 streams one connection may have open at once",
       std::to_string(d.max_concurrent_streams), false,
       int_option(&Config::max_concurrent_streams, 1, 1 << 24)},
      {"max-streaming-calls",
       "streaming handlers running at once per worker (each holds a pool thread); more fail fast "
       "with RESOURCE_EXHAUSTED; 0 = three quarters of --threads",
       "0", false, int_option(&Config::max_streaming_calls, 0, 1 << 20)},
      {"max-rpcs-per-connection",
       "calls running at once on one connection; more are refused (REFUSED_STREAM, clients "
       "retry); 0 = no limit",
       std::to_string(d.max_rpcs_per_connection), false,
       int_option(&Config::max_rpcs_per_connection, 0, 1 << 24)},
      {"max-call-rate-per-connection",
       "calls one connection may start per second (a second's worth at once); past it the "
       "connection gets GOAWAY ENHANCE_YOUR_CALM; 0 = no limit (a proxy carries many clients on "
       "one connection)",
       std::to_string(d.max_call_rate_per_connection), false,
       int_option(&Config::max_call_rate_per_connection, 0, 1 << 24)},
      {"first-message-timeout",
       "a call whose first request message (unary: whole request) has not arrived this long after "
       "its headers is cancelled; 0 = never",
       ms(d.first_message_timeout), false, duration_option(&Config::first_message_timeout)},
      {"stream-idle-timeout",
       "a streaming call whose handler waits this long for a request message is cancelled; 0 = "
       "never",
       ms(d.stream_idle_timeout), false, duration_option(&Config::stream_idle_timeout)},
      {"write-timeout",
       "a connection with output pending that makes no write progress this long is closed (native "
       "transport)",
       ms(d.write_timeout), false, duration_option(&Config::write_timeout)},
      {"stream-write-timeout",
       "a streaming call whose write makes no progress into the client's flow-control window "
       "this long is reset (RST_STREAM CANCEL) and its handler's write returns false; 0 = never",
       ms(d.stream_write_timeout), false, duration_option(&Config::stream_write_timeout)},
      {"shutdown-timeout", "how long a draining worker may take before it is killed",
       ms(d.shutdown_timeout), false, duration_option(&Config::shutdown_timeout)},
      {"drain-delay", "on stop, how long workers keep serving after health goes NOT_SERVING",
       ms(d.drain_delay), false, duration_option(&Config::drain_delay)},
      {"max-connection-age",
       "connections are rotated (GOAWAY) after this age (+-10%); on --transport grpc a drain waits "
       "for it (native drains by GOAWAY at once)",
       ms(d.max_connection_age), false, duration_option(&Config::max_connection_age)},
      {"max-connection-age-grace",
       "after a connection's age GOAWAY, how long its calls may run before it is closed; 0 = until "
       "they end",
       ms(d.max_connection_age_grace), false, duration_option(&Config::max_connection_age_grace)},
      {"heartbeat-timeout", "a worker silent for this long is killed and replaced",
       ms(d.heartbeat_timeout), false, duration_option(&Config::heartbeat_timeout)},
      {"startup-timeout", "how long a new worker may take to become ready", ms(d.startup_timeout),
       false, duration_option(&Config::startup_timeout)},
      {"max-requests", "recycle a worker after this many RPCs; 0 = never", "0", false,
       u64_option(&Config::max_requests)},
      {"max-requests-jitter", "random extra RPCs added to max-requests per worker", "0", false,
       u64_option(&Config::max_requests_jitter)},
      {"max-memory", "recycle a worker whose RSS exceeds this (e.g. 512MiB); 0 = never", "0", false,
       size_option(&Config::max_memory)},
      {"metrics-address", "HOST:PORT of the master's /metrics endpoint; empty disables it",
       d.metrics_address, false, string_option(&Config::metrics_address)},
      {"access-log", "access log destination: empty = off, - = stdout, or a file path", "", false,
       string_option(&Config::access_log)},
      {"access-log-format", "text, json or ltsv", "text", false,
       enum_option<AccessLogFormat>(&Config::access_log_format,
                                    {{"text", AccessLogFormat::kText},
                                     {"json", AccessLogFormat::kJson},
                                     {"ltsv", AccessLogFormat::kLtsv}})},
      {"transport",
       "native: gryphon's own HTTP/2 transport on nghttp2 (the default); grpc: gRPC C++ 1.51, "
       "the compatibility transport (see README, \"Transports\")",
       "native", false,
       enum_option<TransportKind>(&Config::transport, {{"grpc", TransportKind::kGrpc},
                                                       {"native", TransportKind::kNative}})},
      {"request-id",
       "on: take x-request-id or make one, log it and send it back; off: no request ids", "on",
       false, enum_option<bool>(&Config::request_id, {{"on", true}, {"off", false}})},
      {"reflection",
       "on: serve gRPC server reflection (v1alpha and v1) for tools such as grpcurl; off: do not",
       "on", false, enum_option<bool>(&Config::reflection, {{"on", true}, {"off", false}})},
      {"log-level", "trace, debug, info, warn, error or off", d.log_level, false,
       [](Config& c, const Values& v) {
         static const std::vector<std::string> levels{"trace", "debug", "info",
                                                      "warn",  "error", "off"};
         if (std::find(levels.begin(), levels.end(), single(v)[0]) == levels.end()) {
           throw std::invalid_argument("'" + v[0] +
                                       "' is not one of: trace, debug, info, warn, error, off");
         }
         c.log_level = v[0];
       }},
      {"log-format", "text or json", "text", false,
       enum_option<LogFormat>(&Config::log_format,
                              {{"text", LogFormat::kText}, {"json", LogFormat::kJson}})},
      {"log-file", "server log file; empty = stderr", "", false, string_option(&Config::log_file)},
      {"pid-file", "write the master's pid here once the instance is ready", "", false,
       string_option(&Config::pid_file)},
      {"tls-cert", "PEM certificate chain; enables TLS on every TCP listener", "", false,
       string_option(&Config::tls_cert)},
      {"tls-key", "PEM private key for --tls-cert", "", false, string_option(&Config::tls_key)},
      {"tls-client-ca", "PEM CA bundle to verify client certificates", "", false,
       string_option(&Config::tls_client_ca)},
      {"tls-client-auth", "none, optional or require", "none", false,
       enum_option<ClientAuth>(&Config::tls_client_auth, {{"none", ClientAuth::kNone},
                                                          {"optional", ClientAuth::kOptional},
                                                          {"require", ClientAuth::kRequire}})},
      {"unix-socket-mode", "octal permissions of unix: listeners", "0660", false,
       [](Config& c, const Values& v) {
         const std::string& t = single(v)[0];
         unsigned value = 0;
         auto [end, ec] = std::from_chars(t.data(), t.data() + t.size(), value, 8);
         if (ec != std::errc() || end != t.data() + t.size() || value > 0777) {
           throw std::invalid_argument("'" + t + "' is not an octal mode such as 0660");
         }
         c.unix_socket_mode = value;
       }},
      {"max-receive-message-size", "largest request message accepted", "4MiB", false,
       size_option(&Config::max_receive_message_size)},
      {"max-send-message-size", "largest response message sent", "4MiB", false,
       size_option(&Config::max_send_message_size)},
      {"max-metadata-size", "largest request metadata (headers) accepted", "16KiB", false,
       size_option(&Config::max_metadata_size)},
      {"handshake-timeout",
       "connections that do not complete the (TLS and HTTP/2) handshake in time are closed",
       ms(d.handshake_timeout), false, duration_option(&Config::handshake_timeout)},
      {"idle-timeout", "connections without RPCs for this long get a GOAWAY; 0 = never",
       ms(d.idle_timeout), false, duration_option(&Config::idle_timeout)},
      {"keepalive-min-interval",
       "clients pinging more often than this are told to calm down (GOAWAY)",
       ms(d.keepalive_min_interval), false, duration_option(&Config::keepalive_min_interval)},
      {"default-deadline", "deadline for unary RPCs that arrive without one; 0 = none", "0", false,
       duration_option(&Config::default_deadline)},
      {"default-stream-deadline",
       "deadline for streaming RPCs that arrive without one (health Watch and reflection "
       "excepted); "
       "0 = none",
       "0", false, duration_option(&Config::default_stream_deadline)},
      {"max-open-files",
       "descriptors the instance must be able to open; start fails if the limit is lower",
       std::to_string(d.max_open_files), false, int_option(&Config::max_open_files, 64, 1 << 24)},
  };
}

}  // namespace gryphon::internal
