// gryphon::internal::parse_config, parse_duration and parse_size: defaults (as --help and the
// README's options table print them), precedence (flag > environment > file > default),
// --check-config. Errors are in config_errors_test.cc.
#include "config/config.h"

#include <sys/stat.h>

#include <catch2/catch.hpp>

#include <algorithm>
#include <cctype>
#include <fstream>
#include <map>
#include <regex>
#include <sstream>
#include <stdexcept>
#include <string>
#include <thread>
#include <vector>

#include "config_fixtures.h"
#include "test_support.h"

namespace gryphon::internal {
namespace {

using Catch::Matchers::Contains;
using testing::ScopedEnvironment;
using testing::TempDir;
using namespace config_fixtures;
using namespace std::chrono_literals;

// ---------------------------------------------------------------------------------------------
// Defaults

TEST_CASE("with no flags, environment or file, every option has its documented default") {
  ScopedEnvironment env;
  const ParseResult result = parse({});
  REQUIRE(result.config.has_value());
  const Config& c = *result.config;
  CHECK(c.listen == std::vector<std::string>{"0.0.0.0:50051"});
  CHECK(c.workers == static_cast<int>(std::max(1u, std::thread::hardware_concurrency())));
  CHECK(c.threads == 16);
  CHECK(c.cq_threads == 1);
  CHECK(c.max_connections == 0);
  CHECK(c.max_concurrent_rpcs == 1024);
  CHECK(c.max_concurrent_streams == 1000);
  CHECK(c.shutdown_timeout == 30s);
  CHECK(c.drain_delay == 3s);
  CHECK(c.max_connection_age == 10s);
  CHECK(c.heartbeat_timeout == 10s);
  CHECK(c.startup_timeout == 30s);
  CHECK(c.max_requests == 0);
  CHECK(c.max_requests_jitter == 0);
  CHECK(c.max_memory == 0);
  CHECK(c.request_id);
  CHECK(c.reflection);
  CHECK(c.metrics_address == "127.0.0.1:9394");
  CHECK(c.access_log.empty());
  CHECK(c.access_log_format == AccessLogFormat::kText);
  CHECK(c.log_level == "info");
  CHECK(c.log_format == LogFormat::kText);
  CHECK(c.log_file.empty());
  CHECK(c.pid_file.empty());
  CHECK(c.tls_cert.empty());
  CHECK(c.tls_key.empty());
  CHECK(c.tls_client_ca.empty());
  CHECK(c.tls_client_auth == ClientAuth::kNone);
  CHECK(c.unix_socket_mode == 0660u);
  CHECK(c.max_receive_message_size == 4u * 1024 * 1024);
  CHECK(c.max_send_message_size == 4u * 1024 * 1024);
  CHECK(c.io_threads == 1);
  CHECK(c.hard_max_connections == 0);
  CHECK(c.max_streaming_calls == 0);
  CHECK(c.max_rpcs_per_connection == 256);
  CHECK(c.max_call_rate_per_connection == 0);
  CHECK(c.first_message_timeout == 10s);
  CHECK(c.stream_idle_timeout == 120s);
  CHECK(c.stream_write_timeout == 20s);
  CHECK(c.write_timeout == 30s);
  CHECK(c.max_connection_age_grace == 30s);
  CHECK(c.transport == TransportKind::kNative);
  CHECK(c.max_metadata_size == 16u * 1024);
  CHECK(c.handshake_timeout == 10s);
  CHECK(c.idle_timeout == 300s);
  CHECK(c.keepalive_min_interval == 10s);
  CHECK(c.default_deadline == 0s);
  CHECK(c.default_stream_deadline == 0s);
  CHECK(c.max_open_files == 4096);
  CHECK(c.config_file.empty());
  CHECK_FALSE(result.check_only);
}

// ---------------------------------------------------------------------------------------------
// Precedence

TEST_CASE("a flag beats the environment, which beats the config file, which beats the default") {
  ScopedEnvironment env;
  TempDir dir;
  const std::string file = dir.write("gryphon.toml", "threads = 3\n");

  SECTION("default alone") {
    CHECK(parse({}).config->threads == 16);
  }
  SECTION("file over default") {
    CHECK(parse({"--config", file}).config->threads == 3);
  }
  SECTION("environment over file") {
    env.set("GRYPHON_THREADS", "5");
    CHECK(parse({"--config", file}).config->threads == 5);
  }
  SECTION("flag over environment and file") {
    env.set("GRYPHON_THREADS", "5");
    CHECK(parse({"--config", file, "--threads", "7"}).config->threads == 7);
  }
}

TEST_CASE(
    "repeated --listen flags beat a comma-separated GRYPHON_LISTEN, which beats the file's array") {
  ScopedEnvironment env;
  TempDir dir;
  const std::string file =
      dir.write("gryphon.toml", "listen = [\"127.0.0.1:1001\", \"unix:/tmp/a.sock\"]\n");
  using List = std::vector<std::string>;

  SECTION("file") {
    CHECK(parse({"--config", file}).config->listen == List{"127.0.0.1:1001", "unix:/tmp/a.sock"});
  }
  SECTION("environment, split on commas and trimmed") {
    env.set("GRYPHON_LISTEN", "127.0.0.1:2001, [::1]:2002 ,unix:/tmp/b.sock");
    CHECK(parse({"--config", file}).config->listen ==
          List{"127.0.0.1:2001", "[::1]:2002", "unix:/tmp/b.sock"});
  }
  SECTION("flags") {
    env.set("GRYPHON_LISTEN", "127.0.0.1:2001");
    CHECK(parse({"--config", file, "--listen", "127.0.0.1:3001", "--listen", "127.0.0.1:3002"})
              .config->listen == List{"127.0.0.1:3001", "127.0.0.1:3002"});
  }
}

TEST_CASE("the config file can be named by GRYPHON_CONFIG, and --config beats it") {
  ScopedEnvironment env;
  TempDir dir;
  const std::string from_env = dir.write("env.toml", "workers = 3\n");
  const std::string from_flag = dir.write("flag.toml", "workers = 4\n");
  env.set("GRYPHON_CONFIG", from_env);

  const ParseResult by_env = parse({});
  REQUIRE(by_env.config.has_value());
  CHECK(by_env.config->workers == 3);
  CHECK(by_env.config->config_file == from_env);

  const ParseResult by_flag = parse({"--config", from_flag});
  REQUIRE(by_flag.config.has_value());
  CHECK(by_flag.config->workers == 4);
  CHECK(by_flag.config->config_file == from_flag);
}

TEST_CASE("config file keys may be spelt with dashes or underscores") {
  ScopedEnvironment env;
  TempDir dir;
  const std::string file = dir.write("gryphon.toml",
                                     "# durations and sizes are quoted strings\n"
                                     "max-connection-age = \"5s\"\n"
                                     "max_concurrent_rpcs = 77\n"
                                     "max_memory = \"512MiB\"\n"
                                     "log-format = \"json\"\n");
  const ParseResult result = parse({"--config", file});
  REQUIRE(result.config.has_value());
  CHECK(result.config->max_connection_age == 5s);
  CHECK(result.config->max_concurrent_rpcs == 77);
  CHECK(result.config->max_memory == 512u * 1024 * 1024);
  CHECK(result.config->log_format == LogFormat::kJson);
}

// ---------------------------------------------------------------------------------------------
// --help, --check-config

TEST_CASE(
    "asking for --help exits 0 with help listing every option, its default and its environment "
    "variable") {
  ScopedEnvironment env;
  const ParseResult result = parse({"--help"});
  CHECK_FALSE(result.config.has_value());
  CHECK(result.exit_code == 0);
  for (const auto& option : kOptions) {
    const std::string line = help_line(result.message, option);
    INFO("option --" << option << ", help line: '" << line << "'");
    CHECK_THAT(line, Contains("[default: "));
    std::string env_name = "GRYPHON_";
    for (char ch : option) env_name += ch == '-' ? '_' : static_cast<char>(std::toupper(ch));
    CHECK_THAT(line, Contains("env " + env_name + "]"));
  }
  for (const auto& option : {"config", "check-config", "version"}) {
    INFO("option --" << option);
    CHECK_FALSE(help_line(result.message, option).empty());
  }
  CHECK_THAT(result.message, Contains("--help"));
}

TEST_CASE("each default printed by --help is the value the option takes when not given") {
  ScopedEnvironment env;
  const std::string help = parse({"--help"}).message;
  const std::string defaults = describe(*parse({}).config);
  for (const auto& option : kOptions) {
    const auto printed = help_default(help, option);
    INFO("--" << option << " help: " << help_line(help, option));
    REQUIRE(printed.has_value());
    const std::string shown = *printed;
    if (option == "workers") {
      CHECK(shown == "number of CPUs");
      continue;
    }
    INFO("--" << option << " " << shown);
    const ParseResult given = parse({"--" + option, shown});
    REQUIRE(given.config.has_value());
    CHECK(describe(*given.config) == defaults);
  }
}

// The README's options table, row by row: "| `--a`, `--b` | x, y | meaning |" gives --a the default
// x and --b the default y (one default for all when the row has one).
std::map<std::string, std::string> readme_defaults() {
  std::ifstream readme(GRYPHON_README);
  REQUIRE(readme.good());
  std::map<std::string, std::string> defaults;
  const std::regex row(R"(^\| (`--[^|]*) \| ([^|]*) \|)"), option(R"(`--([a-z-]+)`)");
  for (std::string line; std::getline(readme, line);) {
    std::smatch cells;
    if (!std::regex_search(line, cells, row)) continue;
    std::vector<std::string> names, values;
    const std::string names_cell = cells[1];
    for (std::sregex_iterator it(names_cell.begin(), names_cell.end(), option), end; it != end;
         ++it)
      names.push_back((*it)[1]);
    std::istringstream values_cell(cells[2]);
    for (std::string value; std::getline(values_cell, value, ',');)
      values.push_back(value.substr(value.find_first_not_of(' ')));
    if (values.size() != names.size()) values.assign(names.size(), cells[2]);
    for (std::size_t at = 0; at < names.size(); ++at) {
      CHECK(defaults.count(names[at]) == 0);  // one row per option
      defaults[names[at]] = values[at];
    }
  }
  return defaults;
}

// A README default as --help prints it: `x` is the value x; "x (why)" is x; the words off, none
// and stderr (not in backticks) mean no value.
std::string as_printed(std::string value) {
  if (const auto why = value.find(" ("); why != std::string::npos) value.resize(why);
  if (value.size() >= 2 && value.front() == '`' && value.back() == '`')
    return value.substr(1, value.size() - 2);
  if (value == "off" || value == "none" || value == "stderr") return "";
  return value;
}

TEST_CASE("the README's options table lists every option with the default --help prints") {
  ScopedEnvironment env;
  const std::string help = parse({"--help"}).message;
  const auto documented = readme_defaults();
  for (const auto& option : kOptions) {
    INFO("--" << option << " (help: " << help_line(help, option) << ")");
    REQUIRE(documented.count(option) == 1);
    const auto printed = help_default(help, option);
    REQUIRE(printed.has_value());
    CHECK(as_printed(documented.at(option)) == *printed);
  }
  // No row for an option that does not exist.
  for (const auto& [option, value] : documented) {
    INFO("README row --" << option << " | " << value);
    CHECK(std::find(kOptions.begin(), kOptions.end(), option) != kOptions.end());
  }
}

TEST_CASE("validating with --check-config returns the configuration marked check-only") {
  ScopedEnvironment env;
  const ParseResult result = parse({"--check-config", "--threads", "8"});
  REQUIRE(result.config.has_value());
  CHECK(result.check_only);
  CHECK(result.config->threads == 8);
  CHECK_FALSE(parse({"--threads", "8"}).check_only);
}

TEST_CASE("validating an invalid configuration with --check-config is still exit code 2") {
  ScopedEnvironment env;
  const ParseResult result = parse({"--check-config", "--threads", "many"});
  CHECK_FALSE(result.config.has_value());
  CHECK(result.exit_code == 2);
  CHECK_THAT(result.message, Contains("--threads"));
}

// ---------------------------------------------------------------------------------------------
// parse_duration, parse_size

TEST_CASE("durations take ms, s, m or h, and a bare number means seconds") {
  CHECK(parse_duration("250ms") == 250ms);
  CHECK(parse_duration("10s") == 10s);
  CHECK(parse_duration("1.5s") == 1500ms);
  CHECK(parse_duration("2m") == 120s);
  CHECK(parse_duration("1h") == 3600s);
  CHECK(parse_duration("7") == 7s);
  CHECK(parse_duration(" 3s ") == 3s);
}

TEST_CASE("a malformed duration throws invalid_argument quoting the text") {
  for (const std::string text : {"", "s", "-1s", "10x", "1.2.3s", "ten seconds"}) {
    INFO("'" << text << "'");
    CHECK_THROWS_AS(parse_duration(text), std::invalid_argument);
    CHECK_THROWS_WITH(parse_duration(text), Contains("'" + text + "'"));
  }
}

TEST_CASE("sizes take B, KiB, MiB or GiB in any case, and a bare number means bytes") {
  CHECK(parse_size("512") == 512u);
  CHECK(parse_size("512B") == 512u);
  CHECK(parse_size("1KiB") == 1024u);
  CHECK(parse_size("1.5KiB") == 1536u);
  CHECK(parse_size("4MiB") == 4u * 1024 * 1024);
  CHECK(parse_size("4mib") == 4u * 1024 * 1024);
  CHECK(parse_size("2GiB") == 2ull * 1024 * 1024 * 1024);
}

TEST_CASE("a malformed size throws invalid_argument quoting the text") {
  for (const std::string text : {"", "MiB", "4TiB", "-4MiB", "four"}) {
    INFO("'" << text << "'");
    CHECK_THROWS_AS(parse_size(text), std::invalid_argument);
    CHECK_THROWS_WITH(parse_size(text), Contains("'" + text + "'"));
  }
}

}  // namespace
}  // namespace gryphon::internal
