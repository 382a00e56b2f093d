// What the config tests share: a parse() of argv, every option as the user spells it, a
// printable Config, and the --help line of one option.
#pragma once

#include <algorithm>
#include <optional>
#include <sstream>
#include <string>
#include <vector>

#include "config/config.h"

namespace gryphon::internal::config_fixtures {

inline ParseResult parse(std::vector<std::string> args) {
  args.insert(args.begin(), "gryphon");
  std::vector<const char*> argv;
  for (const auto& arg : args) argv.push_back(arg.c_str());
  argv.push_back(nullptr);
  return parse_config(static_cast<int>(args.size()), argv.data(), "gryphon");
}

// Every option, as the user spells it. Kept by hand so that an option dropped from the table fails.
inline const std::vector<std::string> kOptions{
    "listen",
    "workers",
    "threads",
    "cq-threads",
    "io-threads",
    "max-connections",
    "hard-max-connections",
    "max-concurrent-rpcs",
    "max-concurrent-streams",
    "max-streaming-calls",
    "max-rpcs-per-connection",
    "max-call-rate-per-connection",
    "first-message-timeout",
    "stream-idle-timeout",
    "stream-write-timeout",
    "write-timeout",
    "shutdown-timeout",
    "drain-delay",
    "max-connection-age",
    "max-connection-age-grace",
    "heartbeat-timeout",
    "startup-timeout",
    "max-requests",
    "max-requests-jitter",
    "max-memory",
    "metrics-address",
    "access-log",
    "access-log-format",
    "transport",
    "request-id",
    "reflection",
    "log-level",
    "log-format",
    "log-file",
    "pid-file",
    "tls-cert",
    "tls-key",
    "tls-client-ca",
    "tls-client-auth",
    "unix-socket-mode",
    "max-receive-message-size",
    "max-send-message-size",
    "max-metadata-size",
    "handshake-timeout",
    "idle-timeout",
    "keepalive-min-interval",
    "default-deadline",
    "default-stream-deadline",
    "max-open-files",
};

// Every field, printed, so two configurations can be compared with a readable difference.
inline std::string describe(const Config& c) {
  std::ostringstream out;
  out << "listen=";
  for (const auto& l : c.listen) out << l << ",";
  out << " workers=" << c.workers << " threads=" << c.threads << " cq_threads=" << c.cq_threads
      << " max_connections=" << c.max_connections
      << " max_concurrent_rpcs=" << c.max_concurrent_rpcs
      << " max_concurrent_streams=" << c.max_concurrent_streams
      << " shutdown_timeout=" << c.shutdown_timeout.count()
      << " drain_delay=" << c.drain_delay.count()
      << " max_connection_age=" << c.max_connection_age.count()
      << " heartbeat_timeout=" << c.heartbeat_timeout.count()
      << " startup_timeout=" << c.startup_timeout.count() << " max_requests=" << c.max_requests
      << " max_requests_jitter=" << c.max_requests_jitter << " max_memory=" << c.max_memory
      << " metrics_address=" << c.metrics_address << " access_log=" << c.access_log
      << " access_log_format=" << static_cast<int>(c.access_log_format)
      << " log_level=" << c.log_level << " log_format=" << static_cast<int>(c.log_format)
      << " log_file=" << c.log_file << " pid_file=" << c.pid_file << " tls_cert=" << c.tls_cert
      << " tls_key=" << c.tls_key << " tls_client_ca=" << c.tls_client_ca
      << " tls_client_auth=" << static_cast<int>(c.tls_client_auth)
      << " unix_socket_mode=" << std::oct << c.unix_socket_mode << std::dec
      << " max_receive_message_size=" << c.max_receive_message_size
      << " max_send_message_size=" << c.max_send_message_size << " request_id=" << c.request_id
      << " reflection=" << c.reflection << " io_threads=" << c.io_threads
      << " hard_max_connections=" << c.hard_max_connections
      << " max_streaming_calls=" << c.max_streaming_calls
      << " max_rpcs_per_connection=" << c.max_rpcs_per_connection
      << " max_call_rate_per_connection=" << c.max_call_rate_per_connection
      << " first_message_timeout=" << c.first_message_timeout.count()
      << " stream_idle_timeout=" << c.stream_idle_timeout.count()
      << " write_timeout=" << c.write_timeout.count()
      << " max_connection_age_grace=" << c.max_connection_age_grace.count()
      << " transport=" << static_cast<int>(c.transport)
      << " max_metadata_size=" << c.max_metadata_size
      << " handshake_timeout=" << c.handshake_timeout.count()
      << " idle_timeout=" << c.idle_timeout.count()
      << " keepalive_min_interval=" << c.keepalive_min_interval.count()
      << " default_deadline=" << c.default_deadline.count()
      << " default_stream_deadline=" << c.default_stream_deadline.count()
      << " max_open_files=" << c.max_open_files << " config_file=" << c.config_file;
  return out.str();
}

// The help line of one option ("  --name TYPE  description [default: ...]"), or "" if absent. A
// name too long for the column has its description on the next line: the two are joined.
inline std::string help_line(const std::string& help, const std::string& option) {
  std::istringstream in(help);
  for (std::string line; std::getline(in, line);) {
    const auto start = line.find_first_not_of(' ');
    if (start == std::string::npos ||
        line.compare(start, option.size() + 3, "--" + option + " ") != 0)
      continue;
    std::string next;
    if (line.find("  ", start + option.size() + 3) == std::string::npos && std::getline(in, next))
      line += " " + next.substr(std::min(next.find_first_not_of(' '), next.size()));
    return line;
  }
  return {};
}

// The default --help prints for an option ("[default: X; ..."), or nullopt if it prints none.
inline std::optional<std::string> help_default(const std::string& help, const std::string& option) {
  const std::string line = help_line(help, option);
  const auto start = line.find("[default: ");
  if (start == std::string::npos) return std::nullopt;
  const auto end = line.find(';', start);
  if (end == std::string::npos) return std::nullopt;
  return line.substr(start + 10, end - start - 10);
}

}  // namespace gryphon::internal::config_fixtures
