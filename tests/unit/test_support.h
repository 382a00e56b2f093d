// Helpers shared by the unit tests: a private temporary directory and a scoped environment.
//
// TempDir makes a fresh directory under /tmp (short enough for unix socket paths) and removes it
// with everything inside when it goes out of scope. ScopedEnvironment hides every GRYPHON_*
// variable the test process inherited, lets a test set its own, and puts the original ones back
// on destruction, so tests neither see the caller's configuration nor leak theirs to later tests.
#pragma once

#include <stdlib.h>
#include <unistd.h>

#include <cstring>
#include <filesystem>
#include <fstream>
#include <map>
#include <stdexcept>
#include <string>
#include <vector>

extern char** environ;

namespace gryphon::testing {

class TempDir {
 public:
  TempDir() {
    char pattern[] = "/tmp/gryphon-unit-XXXXXX";
    if (::mkdtemp(pattern) == nullptr) throw std::runtime_error("mkdtemp failed");
    path_ = pattern;
  }
  ~TempDir() {
    std::error_code ignored;
    std::filesystem::remove_all(path_, ignored);
  }
  TempDir(const TempDir&) = delete;
  TempDir& operator=(const TempDir&) = delete;

  const std::string& path() const { return path_; }
  std::string file(const std::string& name) const { return path_ + "/" + name; }

  // Writes `content` to `name` inside the directory and returns the file's path.
  std::string write(const std::string& name, const std::string& content) const {
    const std::string target = file(name);
    std::ofstream out(target, std::ios::trunc);
    out << content;
    if (!out) throw std::runtime_error("cannot write " + target);
    return target;
  }

 private:
  std::string path_;
};

inline std::string read_file(const std::string& path) {
  std::ifstream in(path);
  return std::string(std::istreambuf_iterator<char>(in), std::istreambuf_iterator<char>());
}

class ScopedEnvironment {
 public:
  ScopedEnvironment() {
    for (char** entry = environ; *entry != nullptr; ++entry) {
      const std::string text = *entry;
      const auto eq = text.find('=');
      if (text.rfind("GRYPHON_", 0) == 0 && eq != std::string::npos)
        saved_[text.substr(0, eq)] = text.substr(eq + 1);
    }
    clear_gryphon_variables();
  }
  ~ScopedEnvironment() {
    clear_gryphon_variables();
    for (const auto& [name, value] : saved_) ::setenv(name.c_str(), value.c_str(), 1);
  }
  ScopedEnvironment(const ScopedEnvironment&) = delete;
  ScopedEnvironment& operator=(const ScopedEnvironment&) = delete;

  void set(const std::string& name, const std::string& value) {
    ::setenv(name.c_str(), value.c_str(), 1);
  }
  void unset(const std::string& name) { ::unsetenv(name.c_str()); }

 private:
  static void clear_gryphon_variables() {
    std::vector<std::string> names;
    for (char** entry = environ; *entry != nullptr; ++entry) {
      const std::string text = *entry;
      if (text.rfind("GRYPHON_", 0) == 0) names.push_back(text.substr(0, text.find('=')));
    }
    for (const auto& name : names) ::unsetenv(name.c_str());
  }

  std::map<std::string, std::string> saved_;
};

}  // namespace gryphon::testing
