#include "instance/instance.h"

#include <unistd.h>

#include <stdexcept>

#include "observability/logging.h"
#include "os/process.h"
#include "os/systemd.h"

namespace gryphon::internal {

std::vector<ListenSocket> prepare_instance(const Config& config, const std::string& inherited) {
  const std::uint64_t files = raise_open_file_limit();
  if (files < static_cast<std::uint64_t>(config.max_open_files)) {
    throw std::runtime_error(
        "the open-file limit is " + std::to_string(files) + " but --max-open-files asks for " +
        std::to_string(config.max_open_files) +
        ": raise the hard limit (ulimit -Hn, LimitNOFILE= in systemd) or lower --max-open-files");
  }
  if (!config.pid_file.empty()) PidFile::ensure_free(config.pid_file);
  if (const std::vector<int> passed = systemd::take_listen_fds(); !passed.empty()) {
    log::process()->info(
        "serving on {} sockets passed by systemd (LISTEN_FDS); --listen is not used",
        passed.size());
    return passed_listeners(passed);
  }
  return adopt_listeners(config.listen, config.unix_socket_mode,
                         inherited.empty() ? nullptr : inherited.c_str());
}

std::string describe_listeners(const std::vector<ListenSocket>& listeners) {
  std::string text;
  for (const auto& l : listeners) text += (text.empty() ? "" : ",") + l.bound.to_string();
  return text;
}

void announce_ready(const Config& config, const std::vector<ListenSocket>& listeners,
                    const std::string& metrics, int workers, bool successor,
                    std::optional<PidFile>& pid_file) {
  log::process()->info("ready listen={} metrics={} workers={} pid={} transport={}",
                       describe_listeners(listeners), metrics, workers, ::getpid(),
                       config.transport == TransportKind::kGrpc ? "grpc" : "native");
  if (!config.pid_file.empty()) {
    try {
      pid_file.emplace(config.pid_file);
    } catch (const std::exception& e) {
      log::process()->error("{}", e.what());
    }
  }
  std::string state =
      "READY=1\nSTATUS=ready, " +
      (workers == 0 ? std::string("one process") : std::to_string(workers) + " workers");
  if (successor) state += "\nMAINPID=" + std::to_string(::getpid());
  systemd::notify(state);
}

}  // namespace gryphon::internal
