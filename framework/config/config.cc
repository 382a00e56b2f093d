// Option table, precedence (flag > environment > file > default) and validation.
//
// CLI11 parses the command line and produces --help; the environment and the TOML file are merged
// here rather than through CLI11, whose 2.1.2 release applies the file over the environment and
// exits with its own code on unknown flags. Every error names the option and ends up as exit 2.
#include "config/config.h"

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

#include "transport/listen_address.h"

namespace gryphon {
namespace {

using Values = std::vector<std::string>;
using Apply = std::function<void(Config&, const Values&)>;

struct OptionSpec {
  std::string name;  // flag name without dashes, e.g. "max-connection-age"
  std::string help;
  std::string default_text;
  bool repeated = false;
  Apply apply;
};

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

const Values& single(const Values& values) {
  if (values.size() != 1) throw std::invalid_argument("takes exactly one value");
  return values;
}

Apply int_option(int Config::*field, int min, int max) {
  return [=](Config& c, const Values& v) { c.*field = static_cast<int>(parse_int(single(v)[0], min, max)); };
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

std::vector<OptionSpec> option_specs() {
  const Config d;
  auto ms = [](Duration value) {
    return value.count() % 1000 == 0 ? std::to_string(value.count() / 1000) + "s"
                                     : std::to_string(value.count()) + "ms";
  };
  return {
      {"listen", "address to serve on: host:port, [v6]:port or unix:/path; repeatable (env: comma-separated)",
       "0.0.0.0:50051", true,
       [](Config& c, const Values& v) {
         c.listen.clear();
         for (const auto& item : v) {
           ListenAddress::parse(item);  // throws with a message on a malformed address
           c.listen.push_back(item);
         }
         if (c.listen.empty()) throw std::invalid_argument("needs at least one address");
       }},
      {"workers", "worker processes; 0 serves from the master process itself", "number of CPUs", false,
       int_option(&Config::workers, 0, 1024)},
      {"threads", "handler pool threads per worker (blocking handlers run here)", std::to_string(d.threads),
       false, int_option(&Config::threads, 1, 4096)},
      {"cq-threads", "completion-queue threads per worker", std::to_string(d.cq_threads), false,
       int_option(&Config::cq_threads, 1, 64)},
      {"max-connections", "per-worker connection count above which a worker lets others accept first; 0 = off",
       std::to_string(d.max_connections), false, int_option(&Config::max_connections, 0, 1 << 20)},
      {"max-concurrent-rpcs", "RPCs in flight per worker; more fail fast with RESOURCE_EXHAUSTED",
       std::to_string(d.max_concurrent_rpcs), false, int_option(&Config::max_concurrent_rpcs, 1, 1 << 24)},
      {"max-concurrent-streams", "HTTP/2 streams per connection; 0 = gRPC's default",
       std::to_string(d.max_concurrent_streams), false, int_option(&Config::max_concurrent_streams, 0, 1 << 24)},
      {"shutdown-timeout", "how long a draining worker may take before it is killed", ms(d.shutdown_timeout),
       false, duration_option(&Config::shutdown_timeout)},
      {"drain-delay", "on stop, how long workers keep serving after health goes NOT_SERVING",
       ms(d.drain_delay), false, duration_option(&Config::drain_delay)},
      {"max-connection-age",
       "connections are rotated (GOAWAY) after this age; a rolling restart takes about workers x 1.1 x this",
       ms(d.max_connection_age), false, duration_option(&Config::max_connection_age)},
      {"heartbeat-timeout", "a worker silent for this long is killed and replaced", ms(d.heartbeat_timeout),
       false, duration_option(&Config::heartbeat_timeout)},
      {"startup-timeout", "how long a new worker may take to become ready", ms(d.startup_timeout), false,
       duration_option(&Config::startup_timeout)},
      {"max-requests", "recycle a worker after this many RPCs; 0 = never", "0", false,
       u64_option(&Config::max_requests)},
      {"max-requests-jitter", "random extra RPCs added to max-requests per worker", "0", false,
       u64_option(&Config::max_requests_jitter)},
      {"max-memory", "recycle a worker whose RSS exceeds this (e.g. 512MiB); 0 = never", "0", false,
       size_option(&Config::max_memory)},
      {"metrics-address", "HOST:PORT of the master's /metrics endpoint; empty disables it", d.metrics_address,
       false, string_option(&Config::metrics_address)},
      {"access-log", "access log destination: empty = off, - = stdout, or a file path", "", false,
       string_option(&Config::access_log)},
      {"access-log-format", "text, json or ltsv", "text", false,
       enum_option<AccessLogFormat>(&Config::access_log_format, {{"text", AccessLogFormat::kText},
                                                                 {"json", AccessLogFormat::kJson},
                                                                 {"ltsv", AccessLogFormat::kLtsv}})},
      {"request-id", "on: take x-request-id or make one, log it and send it back; off: no request ids", "on",
       false, enum_option<bool>(&Config::request_id, {{"on", true}, {"off", false}})},
      {"reflection", "on: serve gRPC server reflection (v1alpha and v1) for tools such as grpcurl; off: do not",
       "on", false, enum_option<bool>(&Config::reflection, {{"on", true}, {"off", false}})},
      {"log-level", "trace, debug, info, warn, error or off", d.log_level, false,
       [](Config& c, const Values& v) {
         static const std::vector<std::string> levels{"trace", "debug", "info", "warn", "error", "off"};
         if (std::find(levels.begin(), levels.end(), single(v)[0]) == levels.end()) {
           throw std::invalid_argument("'" + v[0] + "' is not one of: trace, debug, info, warn, error, off");
         }
         c.log_level = v[0];
       }},
      {"log-format", "text or json", "text", false,
       enum_option<LogFormat>(&Config::log_format, {{"text", LogFormat::kText}, {"json", LogFormat::kJson}})},
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
      {"handshake-timeout", "connections that do not complete the (TLS and HTTP/2) handshake in time are closed",
       ms(d.handshake_timeout), false, duration_option(&Config::handshake_timeout)},
      {"idle-timeout", "connections without RPCs for this long get a GOAWAY; 0 = never", ms(d.idle_timeout), false,
       duration_option(&Config::idle_timeout)},
      {"keepalive-min-interval", "clients pinging more often than this are told to calm down (GOAWAY)",
       ms(d.keepalive_min_interval), false, duration_option(&Config::keepalive_min_interval)},
      {"default-deadline", "deadline for unary RPCs that arrive without one; 0 = none", "0", false,
       duration_option(&Config::default_deadline)},
      {"max-open-files", "descriptors the instance must be able to open; start fails if the limit is lower",
       std::to_string(d.max_open_files), false, int_option(&Config::max_open_files, 64, 1 << 24)},
  };
}

std::string normalise_key(std::string key) {
  std::replace(key.begin(), key.end(), '_', '-');
  return key;
}

// CLI11 2.1.2 reads TOML leniently: an unclosed string or array becomes part of a value (so
// `log-file = "/var/log/x` names a file starting with a quote). Throws naming the line instead.
// Follows CLI11's reading: a key's line ends at '#', an array runs to a line ending in ']'.
void check_toml_shape(const std::string& path) {
  std::ifstream in(path);
  int number = 0;
  int array_start = 0;  // line on which an unfinished multi-line array began; 0 if none
  for (std::string line; std::getline(in, line);) {
    ++number;
    line = trim(line);
    if (array_start == 0) {
      if (line.empty() || line[0] == '#' || line[0] == ';' || line[0] == '[') continue;
      line = trim(line.substr(0, line.find('#')));
      const auto eq = line.find('=');
      if (eq != std::string::npos && trim(line.substr(eq + 1)).rfind('[', 0) == 0 && line.back() != ']') {
        array_start = number;
      }
    } else if (!line.empty() && line.back() == ']') {
      array_start = 0;
    }
    char quote = 0;
    for (std::size_t i = 0; i < line.size(); ++i) {
      if (quote == 0 && (line[i] == '"' || line[i] == '\'')) quote = line[i];
      else if (quote == '"' && line[i] == '\\') ++i;
      else if (line[i] == quote) quote = 0;
    }
    if (quote != 0) {
      throw std::invalid_argument("line " + std::to_string(number) +
                                  ": a string is not closed (a '#' ends the line, even inside quotes)");
    }
  }
  if (array_start != 0) throw std::invalid_argument("line " + std::to_string(array_start) + ": an array is not closed");
}

ParseResult error(std::string message) {
  ParseResult result;
  result.exit_code = 2;
  result.message = "error: " + std::move(message);
  return result;
}

// Checks between options, after each option is valid on its own.
std::string check_consistency(const Config& c) {
  if (c.tls_cert.empty() != c.tls_key.empty()) {
    return "--tls-cert and --tls-key go together: give both or neither";
  }
  if (c.tls_client_auth != ClientAuth::kNone && c.tls_client_ca.empty()) {
    return "--tls-client-auth needs --tls-client-ca to verify client certificates";
  }
  if (!c.tls_client_ca.empty() && c.tls_cert.empty()) {
    return "--tls-client-ca needs --tls-cert and --tls-key (client certificates only exist with TLS)";
  }
  if (c.max_requests_jitter > 0 && c.max_requests == 0) {
    return "--max-requests-jitter needs --max-requests";
  }
  if (c.max_connection_age.count() < 100) return "--max-connection-age must be at least 100ms";
  if (c.heartbeat_timeout.count() < 200) return "--heartbeat-timeout must be at least 200ms";
  if (c.startup_timeout.count() < 100) return "--startup-timeout must be at least 100ms";
  if (!c.metrics_address.empty()) {
    try {
      const ListenAddress address = ListenAddress::parse(c.metrics_address);
      if (address.is_unix()) return "--metrics-address takes HOST:PORT, not a unix socket";
    } catch (const std::invalid_argument& e) {
      return std::string("--metrics-address: ") + e.what();
    }
  }
  return {};
}

}  // namespace

Duration parse_duration(const std::string& text) {
  auto [number, unit] = number_and_unit(text, "duration such as 500ms, 10s or 2m");
  double ms = 0;
  if (unit.empty() || unit == "s") ms = number * 1000;
  else if (unit == "ms") ms = number;
  else if (unit == "m") ms = number * 60'000;
  else if (unit == "h") ms = number * 3'600'000;
  else throw std::invalid_argument("'" + text + "' has an unknown unit; use ms, s, m or h");
  if (ms > 1e12) throw std::invalid_argument("'" + text + "' is too long");
  return Duration(static_cast<std::int64_t>(ms));
}

std::uint64_t parse_size(const std::string& text) {
  auto [number, unit] = number_and_unit(text, "size such as 4MiB");
  std::string u = unit;
  std::transform(u.begin(), u.end(), u.begin(), [](unsigned char ch) { return std::tolower(ch); });
  double factor = 0;
  if (u.empty() || u == "b") factor = 1;
  else if (u == "k" || u == "kb" || u == "kib") factor = 1024.0;
  else if (u == "m" || u == "mb" || u == "mib") factor = 1024.0 * 1024;
  else if (u == "g" || u == "gb" || u == "gib") factor = 1024.0 * 1024 * 1024;
  else throw std::invalid_argument("'" + text + "' has an unknown unit; use B, KiB, MiB or GiB");
  const double bytes = number * factor;
  if (bytes > 1e15) throw std::invalid_argument("'" + text + "' is too large");
  return static_cast<std::uint64_t>(bytes);
}

ParseResult parse_config(int argc, const char* const* argv, const std::string& program) {
  const std::vector<OptionSpec> specs = option_specs();
  CLI::App app{program + ": a gryphon gRPC server (master and pre-forked workers)", program};
  app.get_formatter()->column_width(36);

  std::map<std::string, Values> cli_values;
  std::map<std::string, CLI::Option*> cli_options;
  for (const auto& spec : specs) {
    const std::string help = spec.help + " [default: " + spec.default_text + "; env " + env_name(spec.name) + "]";
    CLI::Option* option = app.add_option("--" + spec.name, cli_values[spec.name], help)->allow_extra_args(false);
    // A flag given twice: the last one wins, as scripts that append overrides expect.
    if (!spec.repeated) option->expected(1)->multi_option_policy(CLI::MultiOptionPolicy::TakeLast);
    option->type_name(spec.repeated ? "ADDRESS" : "VALUE");
    cli_options[spec.name] = option;
  }
  std::string config_file;
  bool check_only = false;
  bool version = false;
  app.add_option("--config", config_file, "TOML file with options (keys as the flags without --) [env GRYPHON_CONFIG]");
  app.add_flag("--check-config", check_only, "validate the configuration and exit (0 if valid, 2 if not)");
  app.add_flag("--version", version, "print the version and exit");

  try {
    app.parse(argc, const_cast<char**>(argv));
  } catch (const CLI::CallForHelp&) {
    ParseResult result;
    result.message = app.help();
    return result;
  } catch (const CLI::ParseError& e) {
    return error(std::string(e.what()) + " (run with --help to list the options)");
  }
  if (version) {
    ParseResult result;
    result.message = program + " (gryphon " GRYPHON_VERSION ")";
    return result;
  }

  // Environment, then file, for every option the command line did not set.
  std::map<std::string, std::pair<Values, std::string>> chosen;  // value and where it came from
  for (const auto& spec : specs) {
    if (cli_options[spec.name]->count() > 0) chosen[spec.name] = {cli_values[spec.name], "--" + spec.name};
  }
  for (const auto& spec : specs) {
    if (chosen.count(spec.name)) continue;
    const char* env = std::getenv(env_name(spec.name).c_str());
    if (env == nullptr) continue;
    Values values;
    if (spec.repeated) {
      std::string item;
      for (const char* p = env;; ++p) {
        if (*p == ',' || *p == '\0') {
          if (!trim(item).empty()) values.push_back(trim(item));
          item.clear();
          if (*p == '\0') break;
        } else {
          item += *p;
        }
      }
    } else {
      values.push_back(env);
    }
    chosen[spec.name] = {values, env_name(spec.name)};
  }
  if (config_file.empty()) {
    if (const char* env = std::getenv("GRYPHON_CONFIG")) config_file = env;
  }
  if (!config_file.empty()) {
    std::error_code ec;
    if (std::filesystem::is_directory(config_file, ec)) {
      return error("--config: '" + config_file + "' is a directory; name a TOML file");
    }
    std::vector<CLI::ConfigItem> items;
    try {
      items = CLI::ConfigTOML().from_file(config_file);
      check_toml_shape(config_file);
    } catch (const CLI::FileError&) {
      return error("--config: cannot read '" + config_file + "'; check the path and its permissions");
    } catch (const std::exception& e) {
      return error("--config: '" + config_file + "' is not valid TOML: " + e.what());
    }
    for (const auto& item : items) {
      if (item.name == "++" || item.name == "--") continue;  // CLI11's section markers
      const std::string key = normalise_key(item.name);
      const auto spec = std::find_if(specs.begin(), specs.end(), [&](const OptionSpec& s) { return s.name == key; });
      if (!item.parents.empty() || spec == specs.end()) {
        return error("config file '" + config_file + "': unknown option '" + item.fullname() +
                     "' (keys are the flag names without --, see --help)");
      }
      if (!chosen.count(key)) chosen[key] = {item.inputs, "'" + key + "' in " + config_file};
    }
  }

  Config config;
  config.workers = static_cast<int>(std::max(1u, std::thread::hardware_concurrency()));
  config.config_file = config_file;
  for (const auto& spec : specs) {
    auto it = chosen.find(spec.name);
    if (it == chosen.end()) continue;
    try {
      spec.apply(config, it->second.first);
    } catch (const std::invalid_argument& e) {
      return error(it->second.second + ": " + e.what());
    }
  }
  if (std::string problem = check_consistency(config); !problem.empty()) return error(problem);

  ParseResult result;
  result.config = std::move(config);
  result.check_only = check_only;
  return result;
}

}  // namespace gryphon
