#include "os/process.h"

#include <pthread.h>
#include <signal.h>
#include <sys/prctl.h>
#include <sys/resource.h>
#include <sys/signalfd.h>
#include <sys/wait.h>
#include <unistd.h>

#include <cstring>
#include <fstream>
#include <stdexcept>

namespace gryphon::internal {
namespace {

int make_signalfd(std::initializer_list<int> signals) {
  sigset_t set;
  sigemptyset(&set);
  for (int s : signals) sigaddset(&set, s);
  pthread_sigmask(SIG_BLOCK, &set, nullptr);
  const int fd = ::signalfd(-1, &set, SFD_NONBLOCK | SFD_CLOEXEC);
  if (fd < 0) throw std::runtime_error(std::string("signalfd: ") + std::strerror(errno));
  return fd;
}

char* title_area = nullptr;
std::size_t title_size = 0;

}  // namespace

SignalWatcher::SignalWatcher(boost::asio::io_context& io, std::initializer_list<int> signals,
                             std::function<void(int)> on_signal)
    : fd_(io, make_signalfd(signals)), on_signal_(std::move(on_signal)) {
  wait();
}

void SignalWatcher::wait() {
  fd_.async_wait(boost::asio::posix::stream_descriptor::wait_read,
                 [this](const boost::system::error_code& ec) {
                   if (ec) return;
                   signalfd_siginfo info{};
                   while (::read(fd_.native_handle(), &info, sizeof(info)) ==
                          static_cast<ssize_t>(sizeof(info))) {
                     on_signal_(static_cast<int>(info.ssi_signo));
                   }
                   wait();
                 });
}

void block_all_signals() {
  sigset_t all;
  sigfillset(&all);
  pthread_sigmask(SIG_BLOCK, &all, nullptr);
}

void unblock_all_signals() {
  for (int s = 1; s < NSIG; ++s) {
    if (s != SIGKILL && s != SIGSTOP) ::signal(s, SIG_DFL);
  }
  sigset_t none;
  sigemptyset(&none);
  pthread_sigmask(SIG_SETMASK, &none, nullptr);
}

void init_process_title(int argc, char** argv) {
  if (argc == 0 || argv == nullptr) return;
  // argv strings are contiguous; only that area is reused, so the environment stays intact.
  title_area = argv[0];
  char* end = argv[argc - 1] + std::strlen(argv[argc - 1]);
  title_size = static_cast<std::size_t>(end - title_area);
}

void set_process_title(const std::string& title) {
  ::prctl(PR_SET_NAME, title.substr(0, 15).c_str(), 0, 0, 0);
  if (title_area == nullptr || title_size == 0) return;
  const std::size_t n = std::min(title.size(), title_size);
  std::memcpy(title_area, title.data(), n);
  std::memset(title_area + n, 0, title_size - n + 1);
}

std::uint64_t resident_bytes() {
  std::ifstream statm("/proc/self/statm");
  std::uint64_t size = 0, resident = 0;
  statm >> size >> resident;
  return resident * static_cast<std::uint64_t>(::sysconf(_SC_PAGESIZE));
}

std::uint64_t raise_open_file_limit() {
  rlimit limit{};
  if (::getrlimit(RLIMIT_NOFILE, &limit) != 0) return 0;
  if (limit.rlim_cur < limit.rlim_max) {
    limit.rlim_cur = limit.rlim_max;
    ::setrlimit(RLIMIT_NOFILE, &limit);
  }
  return limit.rlim_cur;
}

void name_this_thread(const std::string& name) {
  ::pthread_setname_np(::pthread_self(), name.substr(0, 15).c_str());
}

std::string describe_wait_status(int status) {
  if (WIFEXITED(status)) return "exited with code " + std::to_string(WEXITSTATUS(status));
  if (WIFSIGNALED(status)) {
    const char* name = ::sigabbrev_np(WTERMSIG(status));
    return std::string("killed by SIG") + (name ? name : std::to_string(WTERMSIG(status)).c_str());
  }
  return "stopped";
}

}  // namespace gryphon::internal
