// What the async handlers' tests share (async_test.cc, async_stream_test.cc): a drill server
// with one worker and a JSON access log, and the access log's fields of a call.
#pragma once

#include <grpcpp/grpcpp.h>

#include <chrono>
#include <map>
#include <memory>
#include <sstream>
#include <string>
#include <vector>

#include "harness.h"

namespace gryphon::test {

// The access log's fields of the n-th call (from 0) to `method`, once it is logged.
inline std::map<std::string, std::string> logged_call(const std::string& path,
                                                      const std::string& method, int nth = 0) {
  std::map<std::string, std::string> found;
  wait_until(
      [&] {
        std::istringstream text(read_file(path));
        int seen = 0;
        for (std::string line; std::getline(text, line);) {
          auto fields = access_log_fields(line, "json");
          if (fields["grpc.method"] == method && seen++ == nth) {
            found = std::move(fields);
            return true;
          }
        }
        return false;
      },
      std::chrono::milliseconds(5000), std::chrono::milliseconds(20));
  return found;
}

struct AsyncServer {
  TempDir dir;
  std::string access_log = dir.file("access.log");
  ServerProcess process;
  std::shared_ptr<grpc::Channel> channel;
  explicit AsyncServer(std::vector<std::string> extra = {})
      : process(binary_path("GRYPHON_DRILL_SERVER"), args(extra)) {
    process.wait_ready();
    channel = grpc::CreateChannel(process.target(), grpc::InsecureChannelCredentials());
  }
  std::vector<std::string> args(std::vector<std::string> extra) const {
    std::vector<std::string> all{
        "--listen",     "127.0.0.1:0", "--workers",           "1",   "--metrics-address", "",
        "--access-log", access_log,    "--access-log-format", "json"};
    all.insert(all.end(), extra.begin(), extra.end());
    return all;
  }
};

}  // namespace gryphon::test
