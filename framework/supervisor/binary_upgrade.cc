#include "supervisor/binary_upgrade.h"

#include <fcntl.h>
#include <unistd.h>

#include <cstring>
#include <sstream>

#include "observability/logging.h"
#include "os/process.h"

namespace gryphon::internal {
namespace {

constexpr const char* kListenersEnv = "GRYPHON_INHERIT_LISTENERS";
constexpr const char* kNotifyFdEnv = "GRYPHON_UPGRADE_NOTIFY_FD";
// "configured-address=fd"
constexpr const char* kMetricsSocketEnv = "GRYPHON_INHERIT_METRICS";
// "slot:fd,slot:fd,…"
constexpr const char* kSegmentsEnv = "GRYPHON_INHERIT_METRICS_SEGMENTS";

std::string take_env(const char* name) {
  const char* value = std::getenv(name);
  std::string text = value != nullptr ? value : "";
  ::unsetenv(name);
  return text;
}

void keep_open_across_exec(int fd) {
  ::fcntl(fd, F_SETFD, 0);
}

}  // namespace

bool BinaryUpgrade::start(const std::string& executable, const std::vector<std::string>& args,
                          const UpgradeHandover& handover, std::function<void(pid_t)> on_ready) {
  int pipe_fds[2];
  if (::pipe2(pipe_fds, O_CLOEXEC) != 0) {
    log::process()->error("SIGUSR2: pipe failed: {}", std::strerror(errno));
    return false;
  }
  const std::string listeners = describe_for_inheritance(handover.listeners);
  const pid_t pid = ::fork();
  if (pid < 0) {
    log::process()->error("SIGUSR2: fork failed: {}", std::strerror(errno));
    ::close(pipe_fds[0]);
    ::close(pipe_fds[1]);
    return false;
  }
  if (pid == 0) {
    for (const auto& l : handover.listeners) keep_open_across_exec(l.fd);
    keep_open_across_exec(pipe_fds[1]);
    ::setenv(kListenersEnv, listeners.c_str(), 1);
    ::setenv(kNotifyFdEnv, std::to_string(pipe_fds[1]).c_str(), 1);
    if (handover.metrics_fd >= 0) {
      keep_open_across_exec(handover.metrics_fd);
      ::setenv(kMetricsSocketEnv,
               (handover.metrics_address + "=" + std::to_string(handover.metrics_fd)).c_str(), 1);
    }
    if (handover.store != nullptr) {
      for (int fd : handover.store->fds()) keep_open_across_exec(fd);
      ::setenv(kSegmentsEnv, handover.store->describe_for_inheritance().c_str(), 1);
    }
    unblock_all_signals();
    std::vector<char*> argv;
    for (const auto& arg : args) argv.push_back(const_cast<char*>(arg.c_str()));
    argv.push_back(nullptr);
    ::execv(executable.c_str(), argv.data());
    std::_Exit(127);
  }
  ::close(pipe_fds[1]);
  child_ = pid;
  log::process()->info("SIGUSR2: binary upgrade: started new master pid={} from {}", pid,
                       executable);
  pipe_ = std::make_unique<boost::asio::posix::stream_descriptor>(io_, pipe_fds[0]);
  pipe_->async_read_some(boost::asio::buffer(buffer_), [this, pid, on_ready = std::move(on_ready)](
                                                           const boost::system::error_code& ec,
                                                           std::size_t n) {
    if (!ec && n > 0 && std::string(buffer_.data(), n).rfind("ready", 0) == 0 && child_ == pid) {
      log::process()->info("binary upgrade: new master pid={} is ready; this master stops now",
                           pid);
      child_ = 0;
      on_ready(pid);
    }
  });
  return true;
}

bool BinaryUpgrade::child_exited(pid_t pid, const std::string& how) {
  if (pid != child_ || child_ == 0) return false;
  log::process()->error(
      "binary upgrade failed: the new master {} before it was ready; this master keeps serving",
      how);
  child_ = 0;
  if (pipe_) pipe_->close();
  return true;
}

std::string take_inherited_listeners() {
  return take_env(kListenersEnv);
}

InheritedMetrics take_inherited_metrics(const std::string& metrics_address) {
  InheritedMetrics inherited;
  const std::string socket = take_env(kMetricsSocketEnv);
  inherited.segments = take_env(kSegmentsEnv);
  if (const auto eq = socket.rfind('='); eq != std::string::npos) {
    const int fd = std::atoi(socket.c_str() + eq + 1);
    if (socket.substr(0, eq) == metrics_address && !metrics_address.empty()) {
      inherited.socket_fd = fd;
    } else {
      ::close(fd);  // the address changed with the configuration: the new one is bound instead
    }
  }
  if (metrics_address.empty()) {  // metrics are off now: nothing to carry on
    std::istringstream in(inherited.segments);
    for (std::string entry; std::getline(in, entry, ',');) {
      if (const auto colon = entry.find(':'); colon != std::string::npos)
        ::close(std::atoi(entry.c_str() + colon + 1));
    }
    inherited.segments.clear();
  }
  return inherited;
}

bool is_upgrade_successor() {
  return std::getenv(kNotifyFdEnv) != nullptr;
}

void tell_predecessor_ready() {
  const std::string fd_text = take_env(kNotifyFdEnv);
  if (fd_text.empty()) return;
  const int fd = std::atoi(fd_text.c_str());
  (void)!::write(fd, "ready\n", 6);
  ::close(fd);
}

}  // namespace gryphon::internal
