#include "process_stats.h"

#include <sys/resource.h>
#include <unistd.h>

#include <fstream>
#include <iterator>
#include <sstream>

namespace gryphon::bench {

double self_cpu_seconds() {
  rusage usage{};
  getrusage(RUSAGE_SELF, &usage);
  auto seconds = [](const timeval& t) { return t.tv_sec + t.tv_usec / 1e6; };
  return seconds(usage.ru_utime) + seconds(usage.ru_stime);
}

// Fields of /proc/PID/stat counted from 1 (proc(5)); the command name (field 2) may hold spaces,
// so fields are counted from the last ')'.
static constexpr int kUtimeField = 14;
static constexpr int kStimeField = 15;
static constexpr int kRssField = 24;

std::optional<ServerSample> sample_server(const std::vector<int>& pids, std::string* error) {
  static const double kTicksPerSecond = static_cast<double>(sysconf(_SC_CLK_TCK));
  static const std::uint64_t kPageSize = static_cast<std::uint64_t>(sysconf(_SC_PAGESIZE));
  ServerSample sample;
  for (int pid : pids) {
    std::string path = "/proc/" + std::to_string(pid) + "/stat";
    std::ifstream file(path);
    std::string line;
    if (!file || !std::getline(file, line)) {
      *error = "cannot read " + path + " (has process " + std::to_string(pid) + " exited?)";
      return std::nullopt;
    }
    std::size_t name_end = line.rfind(')');
    if (name_end == std::string::npos) {
      *error = "unexpected format of " + path;
      return std::nullopt;
    }
    std::istringstream rest(line.substr(name_end + 1));
    std::vector<std::string> fields{std::istream_iterator<std::string>(rest),
                                    std::istream_iterator<std::string>()};
    auto field = [&](int number) { return std::stoull(fields.at(number - 3)); };
    if (fields.size() < static_cast<std::size_t>(kRssField - 2)) {
      *error = "unexpected format of " + path;
      return std::nullopt;
    }
    sample.cpu_seconds += (field(kUtimeField) + field(kStimeField)) / kTicksPerSecond;
    sample.rss_bytes += field(kRssField) * kPageSize;
  }
  return sample;
}

}  // namespace gryphon::bench
