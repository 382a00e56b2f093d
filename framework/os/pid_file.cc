#include "os/pid_file.h"

#include <fcntl.h>
#include <sys/file.h>
#include <unistd.h>

#include <cerrno>
#include <cstring>
#include <fstream>
#include <stdexcept>

namespace gryphon::internal {

void PidFile::ensure_free(const std::string& path) {
  const int existing = ::open(path.c_str(), O_RDONLY | O_CLOEXEC);
  if (existing < 0) return;
  const bool locked = ::flock(existing, LOCK_EX | LOCK_NB) != 0 && errno == EWOULDBLOCK;
  char buffer[32] = {};
  (void)!::read(existing, buffer, sizeof(buffer) - 1);
  ::close(existing);
  // A binary-upgrade successor may take over the file of the master that started it.
  if (locked && std::atoi(buffer) != ::getppid()) {
    throw std::runtime_error("pid file " + path + " is held by a running instance (pid " +
                             std::string(buffer, strcspn(buffer, "\n")) +
                             "); stop it or choose another --pid-file");
  }
}

PidFile::PidFile(std::string path) : path_(std::move(path)) {
  ensure_free(path_);
  const std::string temporary = path_ + ".tmp." + std::to_string(::getpid());
  fd_ = ::open(temporary.c_str(), O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0644);
  if (fd_ < 0) {
    throw std::runtime_error("cannot write pid file " + temporary + ": " + std::strerror(errno) +
                             "; check --pid-file and its directory's permissions");
  }
  ::flock(fd_, LOCK_EX | LOCK_NB);
  const std::string text = std::to_string(::getpid()) + "\n";
  (void)!::write(fd_, text.data(), text.size());
  ::fsync(fd_);
  if (::rename(temporary.c_str(), path_.c_str()) != 0) {
    const int err = errno;
    ::close(fd_);
    ::unlink(temporary.c_str());
    fd_ = -1;
    throw std::runtime_error("cannot rename pid file into " + path_ + ": " + std::strerror(err));
  }
}

PidFile::~PidFile() {
  if (fd_ < 0) return;
  std::ifstream in(path_);
  long pid = 0;
  if (in >> pid && pid == ::getpid()) ::unlink(path_.c_str());
  ::close(fd_);
}

void PidFile::release() {
  if (fd_ >= 0) ::close(fd_);
  fd_ = -1;
}

}  // namespace gryphon::internal
