// gryphon::parse_config, parse_duration and parse_size: defaults, precedence (flag > environment >
// file > default), and errors that name the option at fault with exit code 2.
#include "config/config.h"

#include <sys/stat.h>

#include <catch2/catch.hpp>

#include <cctype>
#include <sstream>
#include <stdexcept>
#include <string>
#include <thread>
#include <vector>

#include "test_support.h"

namespace gryphon {
namespace {

using Catch::Matchers::Contains;
using testing::ScopedEnvironment;
using testing::TempDir;
using namespace std::chrono_literals;

ParseResult parse(std::vector<std::string> args) {
  args.insert(args.begin(), "gryphon");
  std::vector<const char*> argv;
  for (const auto& arg : args) argv.push_back(arg.c_str());
  argv.push_back(nullptr);
  return parse_config(static_cast<int>(args.size()), argv.data(), "gryphon");
}

// Every option, as the user spells it. Kept by hand so that an option dropped from the table fails.
const std::vector<std::string> kOptions{
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
std::string describe(const Config& c) {
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
std::string help_line(const std::string& help, const std::string& option) {
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
  CHECK(c.max_concurrent_streams == 0);
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
// Errors: exit code 2 and a message naming what to fix

TEST_CASE("an unknown flag is exit code 2 and the message names the flag") {
  ScopedEnvironment env;
  const ParseResult result = parse({"--wrokers", "4"});
  CHECK_FALSE(result.config.has_value());
  CHECK(result.exit_code == 2);
  CHECK_THAT(result.message, Contains("--wrokers"));
}

TEST_CASE(
    "an unknown key in the config file is exit code 2 and the message names the key and the file") {
  ScopedEnvironment env;
  TempDir dir;
  const std::string file = dir.write("gryphon.toml", "threads = 4\nwrokers = 4\n");
  const ParseResult result = parse({"--config", file});
  CHECK_FALSE(result.config.has_value());
  CHECK(result.exit_code == 2);
  CHECK_THAT(result.message, Contains("wrokers") && Contains(file));
}

TEST_CASE("a key inside a TOML table is unknown: options live at the top level") {
  ScopedEnvironment env;
  TempDir dir;
  const std::string file = dir.write("gryphon.toml", "[server]\nthreads = 4\n");
  const ParseResult result = parse({"--config", file});
  CHECK(result.exit_code == 2);
  CHECK_THAT(result.message, Contains("server.threads"));
}

TEST_CASE("a config file that does not exist is exit code 2 naming the file") {
  ScopedEnvironment env;
  TempDir dir;
  const ParseResult result = parse({"--config", dir.file("missing.toml")});
  CHECK_FALSE(result.config.has_value());
  CHECK(result.exit_code == 2);
  CHECK_THAT(result.message, Contains("--config") && Contains(dir.file("missing.toml")));
}

TEST_CASE("a config file that is a directory is exit code 2 naming the file") {
  ScopedEnvironment env;
  TempDir dir;
  const ParseResult result = parse({"--config", dir.path()});
  CHECK_FALSE(result.config.has_value());
  CHECK(result.exit_code == 2);
  CHECK_THAT(result.message, Contains("--config") && Contains(dir.path()));
}

TEST_CASE("a config file without read permission is exit code 2 naming the file") {
  if (::geteuid() == 0) {
    WARN("running as root, which reads any file: cannot test an unreadable config file");
    return;
  }
  ScopedEnvironment env;
  TempDir dir;
  const std::string file = dir.write("gryphon.toml", "threads = 4\n");
  REQUIRE(::chmod(file.c_str(), 0) == 0);
  const ParseResult result = parse({"--config", file});
  CHECK(result.exit_code == 2);
  CHECK_THAT(result.message, Contains(file));
}

TEST_CASE("a TOML file with comments, literal strings and a multi-line array is read as written") {
  ScopedEnvironment env;
  TempDir dir;
  const std::string file = dir.write("gryphon.toml",
                                     "# gryphon\n"
                                     "\n"
                                     "listen = [\"127.0.0.1:1001\",  # first line of the array\n"
                                     "          'unix:/tmp/a.sock']\n"
                                     "threads = 4  # per worker\n"
                                     "log-file = '/var/log/gryphon.log'\n");
  const ParseResult result = parse({"--config", file});
  INFO(result.message);
  REQUIRE(result.config.has_value());
  CHECK(result.config->listen == std::vector<std::string>{"127.0.0.1:1001", "unix:/tmp/a.sock"});
  CHECK(result.config->threads == 4);
  CHECK(result.config->log_file == "/var/log/gryphon.log");
}

TEST_CASE("a malformed TOML file is exit code 2") {
  ScopedEnvironment env;
  TempDir dir;
  std::string content;
  SECTION("a line that is not key = value") {
    content = "threads 4\n";
  }
  SECTION("an unterminated string in an option with choices") {
    content = "log-level = \"info\n";
  }
  SECTION("an unterminated string in a free-text option") {
    content = "log-file = \"/var/log/gryphon.log\n";
  }
  SECTION("an unterminated array at the end of the file") {
    content = "listen = [\"127.0.0.1:1001\", \"127.0.0.1:1002\"\n";
  }
  SECTION("an unterminated array followed by more keys") {
    content = "listen = [\"127.0.0.1:1001\",\nthreads = 4\n";
  }
  SECTION("two values for one scalar key") {
    content = "threads = 4 5\n";
  }
  const std::string file = dir.write("gryphon.toml", content);
  const ParseResult result = parse({"--config", file});
  INFO("file content: " << content);
  INFO("accepted as: " << (result.config
                               ? result.config->listen.back() + " " + result.config->log_file
                               : ""));
  CHECK_FALSE(result.config.has_value());
  CHECK(result.exit_code == 2);
  CHECK_THAT(result.message, Contains(file));
}

TEST_CASE("an unclosed string or array in the config file is reported with its line number") {
  ScopedEnvironment env;
  TempDir dir;
  SECTION("string") {
    const std::string file =
        dir.write("gryphon.toml", "threads = 4\n\nlog-file = \"/var/log/a.log\n");
    CHECK_THAT(parse({"--config", file}).message,
               Contains(file) && Contains("line 3") && Contains("string"));
  }
  SECTION("array") {
    const std::string file =
        dir.write("gryphon.toml", "threads = 4\nlisten = [\"127.0.0.1:1001\",\n\n");
    CHECK_THAT(parse({"--config", file}).message,
               Contains(file) && Contains("line 2") && Contains("array"));
  }
}

TEST_CASE(
    "a '#' inside a quoted value starts a comment, so the value is refused rather than cut short") {
  ScopedEnvironment env;
  TempDir dir;
  const std::string file = dir.write("gryphon.toml", "log-file = \"/var/log/a#b.log\"\n");
  const ParseResult result = parse({"--config", file});
  INFO("accepted as: " << (result.config ? result.config->log_file : ""));
  CHECK(result.exit_code == 2);
  CHECK_THAT(result.message, Contains("line 1"));
}

TEST_CASE("a --listen port above 65535 is exit code 2 naming --listen and the port") {
  ScopedEnvironment env;
  const ParseResult result = parse({"--listen", "127.0.0.1:65536"});
  CHECK(result.exit_code == 2);
  CHECK_THAT(result.message, Contains("--listen") && Contains("65536"));
}

TEST_CASE("a malformed duration is exit code 2 naming the option and the value") {
  ScopedEnvironment env;
  const ParseResult result = parse({"--drain-delay", "3 fortnights"});
  CHECK(result.exit_code == 2);
  CHECK_THAT(result.message, Contains("--drain-delay") && Contains("3 fortnights"));
}

TEST_CASE("a malformed size is exit code 2 naming the option and the value") {
  ScopedEnvironment env;
  const ParseResult result = parse({"--max-memory", "12XB"});
  CHECK(result.exit_code == 2);
  CHECK_THAT(result.message, Contains("--max-memory") && Contains("12XB"));
}

TEST_CASE(
    "an enum value outside its choices is exit code 2 naming the option and listing the choices") {
  ScopedEnvironment env;
  const ParseResult result = parse({"--tls-client-auth", "sometimes"});
  CHECK(result.exit_code == 2);
  CHECK_THAT(result.message, Contains("--tls-client-auth") && Contains("sometimes") &&
                                 Contains("none") && Contains("optional") && Contains("require"));
}

TEST_CASE("a number outside an option's range is exit code 2 naming the option") {
  ScopedEnvironment env;
  const ParseResult result = parse({"--threads", "0"});
  CHECK(result.exit_code == 2);
  CHECK_THAT(result.message, Contains("--threads") && Contains("out of range"));
}

TEST_CASE(
    "a bad value names where it came from: the environment variable, or the file and its key") {
  ScopedEnvironment env;
  TempDir dir;
  SECTION("environment") {
    env.set("GRYPHON_LOG_LEVEL", "loud");
    const ParseResult result = parse({});
    CHECK(result.exit_code == 2);
    CHECK_THAT(result.message, Contains("GRYPHON_LOG_LEVEL") && Contains("loud"));
  }
  SECTION("file") {
    const std::string file = dir.write("gryphon.toml", "log_level = \"loud\"\n");
    const ParseResult result = parse({"--config", file});
    CHECK(result.exit_code == 2);
    CHECK_THAT(result.message, Contains("log-level") && Contains(file) && Contains("loud"));
  }
}

TEST_CASE("a TLS certificate without its key, or a key without a certificate, is exit code 2") {
  ScopedEnvironment env;
  for (const auto& given : {"--tls-cert", "--tls-key"}) {
    const ParseResult result = parse({given, "/etc/ssl/x.pem"});
    INFO(given);
    CHECK(result.exit_code == 2);
    CHECK_THAT(result.message, Contains("--tls-cert") && Contains("--tls-key"));
  }
}

TEST_CASE("asking for client certificates without a CA to verify them is exit code 2") {
  ScopedEnvironment env;
  const ParseResult result =
      parse({"--tls-cert", "c.pem", "--tls-key", "k.pem", "--tls-client-auth", "require"});
  CHECK(result.exit_code == 2);
  CHECK_THAT(result.message, Contains("--tls-client-auth") && Contains("--tls-client-ca"));
}

TEST_CASE("a client CA without a server certificate is exit code 2") {
  ScopedEnvironment env;
  const ParseResult result = parse({"--tls-client-ca", "ca.pem"});
  CHECK(result.exit_code == 2);
  CHECK_THAT(result.message, Contains("--tls-client-ca") && Contains("--tls-cert"));
}

TEST_CASE(
    "the request-id option takes on or off, and anything else is exit code 2 naming the choices") {
  ScopedEnvironment env;
  CHECK_FALSE(parse({"--request-id", "off"}).config->request_id);
  CHECK(parse({"--request-id", "on"}).config->request_id);
  const ParseResult result = parse({"--request-id", "yes"});
  CHECK(result.exit_code == 2);
  CHECK_THAT(result.message, Contains("--request-id") && Contains("on, off"));
}

TEST_CASE(
    "the reflection option takes on or off, from a flag or the environment, and anything else is "
    "exit code 2") {
  ScopedEnvironment env;
  CHECK_FALSE(parse({"--reflection", "off"}).config->reflection);
  CHECK(parse({"--reflection", "on"}).config->reflection);
  env.set("GRYPHON_REFLECTION", "off");
  CHECK_FALSE(parse({}).config->reflection);
  const ParseResult result = parse({"--reflection", "no"});
  CHECK(result.exit_code == 2);
  CHECK_THAT(result.message, Contains("--reflection") && Contains("on, off"));
}

TEST_CASE("a max-requests jitter without max-requests is exit code 2") {
  ScopedEnvironment env;
  const ParseResult result = parse({"--max-requests-jitter", "100"});
  CHECK(result.exit_code == 2);
  CHECK_THAT(result.message, Contains("--max-requests-jitter") && Contains("--max-requests"));
  CHECK(parse({"--max-requests-jitter", "100", "--max-requests", "1000"}).config.has_value());
}

TEST_CASE("a unix socket as --metrics-address is exit code 2") {
  ScopedEnvironment env;
  const ParseResult result = parse({"--metrics-address", "unix:/tmp/m.sock"});
  CHECK(result.exit_code == 2);
  CHECK_THAT(result.message, Contains("--metrics-address"));
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
    const std::string line = help_line(help, option);
    const auto start = line.find("[default: ");
    REQUIRE(start != std::string::npos);
    const auto end = line.find(';', start);
    REQUIRE(end != std::string::npos);
    const std::string shown = line.substr(start + 10, end - start - 10);
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
}  // namespace gryphon
