#include "supervisor/rolling_restart.h"

namespace gryphon::internal {

void RollingRestart::begin(int slots) {
  active_ = true;
  started_ = std::chrono::steady_clock::now();
  queue_.clear();
  for (int i = 0; i < slots; ++i) queue_.push_back(i);
  slot_ = -1;
  old_ = 0;
}

std::optional<int> RollingRestart::advance() {
  if (!active_ || queue_.empty()) {
    active_ = false;
    slot_ = -1;
    return std::nullopt;
  }
  slot_ = queue_.front();
  queue_.pop_front();
  old_ = 0;
  return slot_;
}

bool RollingRestart::exited(pid_t pid) {
  if (!active_ || old_ == 0 || old_ != pid) return false;
  old_ = 0;
  return true;
}

void RollingRestart::abort() {
  active_ = false;
  slot_ = -1;
  old_ = 0;
  queue_.clear();
}

std::chrono::milliseconds RollingRestart::elapsed() const {
  return std::chrono::duration_cast<std::chrono::milliseconds>(std::chrono::steady_clock::now() -
                                                               started_);
}

ReloadedConfig reread_config(const MasterSpec& spec, const Config& running, int workers) {
  ReloadedConfig result;
  std::vector<const char*> argv;
  for (const auto& arg : spec.args) argv.push_back(arg.c_str());
  const ParseResult reloaded = parse_config(static_cast<int>(argv.size()), argv.data(), spec.name);
  if (!reloaded.config) {
    result.problem = reloaded.message;
    return result;
  }
  try {
    result.tls = load_tls(*reloaded.config);
  } catch (const std::invalid_argument& e) {
    result.problem = e.what();
    return result;
  }
  result.listen_changed = reloaded.config->listen != running.listen;
  result.config = *reloaded.config;
  result.config->listen = running.listen;
  result.config->workers = workers;
  return result;
}

}  // namespace gryphon::internal
