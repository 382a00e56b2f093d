// Option table, precedence (flag > environment > file > default) and validation.
//
// CLI11 parses the command line and produces --help; the environment and the TOML file are merged
// here rather than through CLI11, whose 2.1.2 release applies the file over the environment and
// exits with its own code on unknown flags. Every error names the option and ends up as exit 2.
#include "config/config.h"
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
      if (eq != std::string::npos && trim(line.substr(eq + 1)).rfind('[', 0) == 0 &&
          line.back() != ']') {
        array_start = number;
      }
    } else if (!line.empty() && line.back() == ']') {
      array_start = 0;
    }
    char quote = 0;
    for (std::size_t i = 0; i < line.size(); ++i) {
      if (quote == 0 && (line[i] == '"' || line[i] == '\''))
        quote = line[i];
      else if (quote == '"' && line[i] == '\\')
        ++i;
      else if (line[i] == quote)
        quote = 0;
    }
    if (quote != 0) {
      throw std::invalid_argument(
          "line " + std::to_string(number) +
          ": a string is not closed (a '#' ends the line, even inside quotes)");
    }
  }
  if (array_start != 0)
    throw std::invalid_argument("line " + std::to_string(array_start) + ": an array is not closed");
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
    return "--tls-client-ca needs --tls-cert and --tls-key (client certificates only exist with "
           "TLS)";
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
  if (unit.empty() || unit == "s")
    ms = number * 1000;
  else if (unit == "ms")
    ms = number;
  else if (unit == "m")
    ms = number * 60'000;
  else if (unit == "h")
    ms = number * 3'600'000;
  else
    throw std::invalid_argument("'" + text + "' has an unknown unit; use ms, s, m or h");
  if (ms > 1e12) throw std::invalid_argument("'" + text + "' is too long");
  return Duration(static_cast<std::int64_t>(ms));
}

std::uint64_t parse_size(const std::string& text) {
  auto [number, unit] = number_and_unit(text, "size such as 4MiB");
  std::string u = unit;
  std::transform(u.begin(), u.end(), u.begin(), [](unsigned char ch) { return std::tolower(ch); });
  double factor = 0;
  if (u.empty() || u == "b")
    factor = 1;
  else if (u == "k" || u == "kb" || u == "kib")
    factor = 1024.0;
  else if (u == "m" || u == "mb" || u == "mib")
    factor = 1024.0 * 1024;
  else if (u == "g" || u == "gb" || u == "gib")
    factor = 1024.0 * 1024 * 1024;
  else
    throw std::invalid_argument("'" + text + "' has an unknown unit; use B, KiB, MiB or GiB");
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
    const std::string help =
        spec.help + " [default: " + spec.default_text + "; env " + env_name(spec.name) + "]";
    CLI::Option* option =
        app.add_option("--" + spec.name, cli_values[spec.name], help)->allow_extra_args(false);
    // A flag given twice: the last one wins, as scripts that append overrides expect.
    if (!spec.repeated) option->expected(1)->multi_option_policy(CLI::MultiOptionPolicy::TakeLast);
    option->type_name(spec.repeated ? "ADDRESS" : "VALUE");
    cli_options[spec.name] = option;
  }
  std::string config_file;
  bool check_only = false;
  bool version = false;
  app.add_option("--config", config_file,
                 "TOML file with options (keys as the flags without --) [env GRYPHON_CONFIG]");
  app.add_flag("--check-config", check_only,
               "validate the configuration and exit (0 if valid, 2 if not)");
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
    if (cli_options[spec.name]->count() > 0)
      chosen[spec.name] = {cli_values[spec.name], "--" + spec.name};
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
      return error("--config: cannot read '" + config_file +
                   "'; check the path and its permissions");
    } catch (const std::exception& e) {
      return error("--config: '" + config_file + "' is not valid TOML: " + e.what());
    }
    for (const auto& item : items) {
      if (item.name == "++" || item.name == "--") continue;  // CLI11's section markers
      const std::string key = normalise_key(item.name);
      const auto spec = std::find_if(specs.begin(), specs.end(),
                                     [&](const OptionSpec& s) { return s.name == key; });
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

}  // namespace gryphon::internal
