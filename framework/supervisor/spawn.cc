#include "supervisor/spawn.h"

#include <dirent.h>
#include <grpc/grpc.h>
#include <signal.h>
#include <sys/prctl.h>
#include <sys/socket.h>
#include <unistd.h>

#include <algorithm>
#include <cstring>
#include <random>

#include "control/control_protocol.h"
#include "observability/logging.h"
#include "worker/worker.h"

namespace gryphon::internal {
namespace {

void close_inherited_descriptors(const std::vector<int>& keep) {
  DIR* dir = ::opendir("/proc/self/fd");
  if (dir == nullptr) return;
  std::vector<int> to_close;
  while (dirent* entry = ::readdir(dir)) {
    const int fd = std::atoi(entry->d_name);
    if (entry->d_name[0] == '.' || fd == ::dirfd(dir)) continue;
    if (std::find(keep.begin(), keep.end(), fd) == keep.end()) to_close.push_back(fd);
  }
  ::closedir(dir);
  for (int fd : to_close) ::close(fd);
}

[[noreturn]] void become_worker(const WorkerSpec& launch, int slot, int control_fd) {
  std::vector<int> keep{0, 1, 2, control_fd};
  for (const auto& l : launch.listeners) keep.push_back(l.fd);
  close_inherited_descriptors(keep);
  ::srand(static_cast<unsigned>(::getpid() ^
                                std::chrono::system_clock::now().time_since_epoch().count()));
  const pid_t master = ::getppid();
  int code = 1;
  try {
    log::setup(launch.config, log::Role::kWorker, slot);
    std::uint64_t max_requests = launch.config.max_requests;
    if (max_requests > 0 && launch.config.max_requests_jitter > 0) {
      std::mt19937_64 random(std::random_device{}() ^ static_cast<std::uint64_t>(::getpid()));
      max_requests += random() % (launch.config.max_requests_jitter + 1);
    }
    WorkerSpec spec = launch;
    spec.slot = slot;
    spec.max_requests = max_requests;
    // The death signal first, then the check: a master that died in between is noticed either way.
    ::prctl(PR_SET_PDEATHSIG, SIGTERM);
    if (::getppid() != master) std::_Exit(1);
    code = run_supervised_worker(spec, control_fd);
  } catch (const std::exception& e) {
    log::process()->error("worker failed: {}", e.what());
    const std::string line =
        control::encode(control::WorkerMessage{control::Fatal{e.what()}}) + "\n";
    (void)!::write(control_fd, line.data(), line.size());
  }
  log::process()->flush();
  std::_Exit(code);
}

}  // namespace

ForkedWorker fork_worker(const WorkerSpec& launch, int slot) {
  if (launch.metrics)
    launch.metrics->ensure_slot(slot);  // mapped before the fork, so the worker inherits it
  for (const auto& hook : launch.hooks.before_fork) hook();
  if (grpc_is_initialized() != 0) {
    log::process()->critical(
        "gRPC is initialised in the master (by a before_fork hook or a static initialiser?): "
        "forking now would break the workers; aborting. Create gRPC objects in on_worker_start");
    std::abort();
  }
  int pair[2];
  if (::socketpair(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0, pair) != 0) {
    log::process()->error("socketpair for worker[{}] failed: {}", slot, std::strerror(errno));
    return {};
  }
  const pid_t pid = ::fork();
  if (pid < 0) {
    log::process()->error("fork for worker[{}] failed: {}", slot, std::strerror(errno));
    ::close(pair[0]);
    ::close(pair[1]);
    return {};
  }
  if (pid == 0) {
    ::close(pair[0]);
    become_worker(launch, slot, pair[1]);
  }
  ::close(pair[1]);
  return {pid, pair[0]};
}

}  // namespace gryphon::internal
