// PidFile: the master's pid, written once the instance is ready.
//
// Written atomically (temporary file + rename) and held under an exclusive flock for the
// process's life, so a second instance pointed at the same file fails clearly. Removed on
// destruction only if it still holds this process's pid (a binary-upgrade successor may have
// replaced it).
#pragma once

#include <string>

namespace gryphon::internal {

class PidFile {
 public:
  // Throws std::runtime_error naming the file and the live owner's pid when it is locked.
  explicit PidFile(std::string path);
  ~PidFile();
  PidFile(const PidFile&) = delete;
  PidFile& operator=(const PidFile&) = delete;

  // Throws, as the constructor would, when a running instance holds `path`. Called at start so a
  // second instance fails before it binds or forks anything.
  static void ensure_free(const std::string& path);

  // Gives up the file without removing it (the process is being replaced).
  void release();

 private:
  std::string path_;
  int fd_ = -1;
};

}  // namespace gryphon::internal
