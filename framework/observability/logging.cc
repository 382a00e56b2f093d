#include "observability/logging.h"

#include "observability/json.h"

#include <spdlog/pattern_formatter.h>
#include <spdlog/sinks/basic_file_sink.h>
#include <spdlog/sinks/stdout_sinks.h>
#include <spdlog/spdlog.h>

#include <atomic>
#include <string>
#include <mutex>

namespace gryphon::internal::log {
namespace {

// %* : the message, escaped for a JSON string.
class JsonEscapedMessage final : public spdlog::custom_flag_formatter {
 public:
  void format(const spdlog::details::log_msg& msg, const std::tm&,
              spdlog::memory_buf_t& dest) override {
    thread_local std::string escaped;
    escaped.clear();
    internal::append_json_string(escaped, std::string_view(msg.payload.data(), msg.payload.size()));
    dest.append(escaped.data() + 1,
                escaped.data() + escaped.size() - 1);  // the pattern has the quotes
  }
  std::unique_ptr<custom_flag_formatter> clone() const override {
    return std::make_unique<JsonEscapedMessage>();
  }
};

struct State {
  std::mutex mutex;
  Config config;
  Role role = Role::kMaster;
  int slot = -1;
  std::atomic<std::shared_ptr<spdlog::logger>> process;
  std::atomic<std::shared_ptr<spdlog::logger>> app;
};

State& state() {
  static State* s = new State();  // never destroyed: loggers may be used during exit
  return *s;
}

std::shared_ptr<spdlog::logger> make_logger(const std::string& name, spdlog::sink_ptr sink,
                                            const Config& config) {
  auto logger = std::make_shared<spdlog::logger>(name, std::move(sink));
  auto formatter = std::make_unique<spdlog::pattern_formatter>();
  if (config.log_format == LogFormat::kJson) {
    formatter->add_flag<JsonEscapedMessage>('*').set_pattern(
        R"({"time":"%Y-%m-%dT%H:%M:%S.%f%z","level":"%l","logger":"%n","pid":%P,"msg":"%*"})");
  } else {
    formatter->set_pattern("%Y-%m-%dT%H:%M:%S.%e%z %^%-5l%$ %n pid=%P %v");
  }
  logger->set_formatter(std::move(formatter));
  logger->set_level(spdlog::level::from_str(config.log_level));
  logger->flush_on(spdlog::level::trace);
  return logger;
}

void install(State& s) {
  spdlog::sink_ptr sink;
  if (s.config.log_file.empty()) {
    sink = std::make_shared<spdlog::sinks::stderr_sink_mt>();
  } else {
    sink = std::make_shared<spdlog::sinks::basic_file_sink_mt>(s.config.log_file, false);
  }
  std::string name = "master";
  if (s.role == Role::kWorker) name = "worker[" + std::to_string(s.slot) + "]";
  if (s.role == Role::kStandalone) name = "server";
  s.process.store(make_logger(name, sink, s.config));
  auto app = make_logger("app", sink, s.config);
  s.app.store(app);
  spdlog::set_default_logger(app);
}

}  // namespace

void setup(const Config& config, Role role, int slot) {
  State& s = state();
  std::lock_guard lock(s.mutex);
  s.config = config;
  s.role = role;
  s.slot = slot;
  // A forked worker inherits the master's loggers, whose file sink holds a FILE* on a descriptor
  // the worker has already closed. Destroyed after the worker opened its own file, that FILE*
  // would close the worker's descriptor (same number), and its log lines would go to whatever
  // took the number next ("Failed flush ... Invalid argument" at stop). Drop them first.
  s.process.store(nullptr);
  s.app.store(nullptr);
  spdlog::set_default_logger(nullptr);
  try {
    install(s);
  } catch (const spdlog::spdlog_ex& e) {
    s.config.log_file.clear();  // the error and what follows go to stderr
    install(s);
    throw std::runtime_error("--log-file: cannot open '" + config.log_file + "': " + e.what());
  }
}

void reopen() {
  State& s = state();
  std::lock_guard lock(s.mutex);
  if (s.config.log_file.empty()) return;
  try {
    install(s);
  } catch (const spdlog::spdlog_ex& e) {
    if (auto logger = s.process.load())
      logger->error("cannot reopen log file '{}': {}; still writing to the old one",
                    s.config.log_file, e.what());
  }
}

std::shared_ptr<spdlog::logger> process() {
  State& s = state();
  if (auto logger = s.process.load()) return logger;
  std::lock_guard lock(s.mutex);
  if (!s.process.load()) install(s);
  return s.process.load();
}

std::shared_ptr<spdlog::logger> app() {
  State& s = state();
  if (auto logger = s.app.load()) return logger;
  process();
  return s.app.load();
}

}  // namespace gryphon::internal::log
