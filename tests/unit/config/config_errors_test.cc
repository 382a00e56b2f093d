// gryphon::internal::parse_config's errors: each is exit code 2 with a message that names the
// option, file or line at fault and what to do.
#include "config/config.h"

#include <sys/stat.h>

#include <catch2/catch.hpp>

#include <cctype>
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

// One bad command line per row: exit code 2, and the message names every word listed (the option
// at fault, the value given, what it must be or what else it needs).
struct BadLine {
  std::vector<std::string> args;
  std::vector<std::string> named;
};
const std::vector<BadLine> kBadLines{
    {{"--listen", "127.0.0.1:65536"}, {"--listen", "65536"}},                // port above 65535
    {{"--drain-delay", "3 fortnights"}, {"--drain-delay", "3 fortnights"}},  // malformed duration
    {{"--max-memory", "12XB"}, {"--max-memory", "12XB"}},                    // malformed size
    {{"--tls-client-auth", "sometimes"},                                     // outside the choices
     {"--tls-client-auth", "sometimes", "none", "optional", "require"}},
    {{"--threads", "0"}, {"--threads", "out of range"}},  // a number outside its range
    // client certificates asked for with no CA to verify them
    {{"--tls-cert", "c.pem", "--tls-key", "k.pem", "--tls-client-auth", "require"},
     {"--tls-client-auth", "--tls-client-ca"}},
    {{"--tls-client-ca", "ca.pem"}, {"--tls-client-ca", "--tls-cert"}},  // a CA with no certificate
    {{"--metrics-address", "unix:/tmp/m.sock"}, {"--metrics-address"}},  // /metrics is TCP only
};

TEST_CASE("a bad value or combination is exit code 2 naming the option and what to fix") {
  ScopedEnvironment env;
  for (const BadLine& line : kBadLines) {
    const ParseResult result = parse(line.args);
    std::string given;
    for (const auto& arg : line.args) given += arg + " ";
    INFO("gryphon " << given << "-> " << result.message);
    CHECK(result.exit_code == 2);
    for (const auto& word : line.named) CHECK_THAT(result.message, Contains(word));
  }
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

}  // namespace
}  // namespace gryphon::internal
