// AccessLog: one line per finished RPC, written by a background thread so no RPC ever waits on
// disk I/O.
//
// The RPC's thread formats the line (text, JSON or LTSV; fields after go-grpc-middleware) and
// appends it to a bounded in-memory batch; when the batch is full the line is dropped and counted
// (gryphon_access_log_dropped_total) rather than blocking. The writer thread, created in the worker
// after fork, takes the whole batch and writes it with as few write(2) calls as possible, each of
// whole lines: to a regular file opened O_APPEND one call per batch, so lines from several worker
// processes never split or interleave; to a pipe or terminal in chunks of at most PIPE_BUF bytes,
// which the kernel keeps atomic. reopen() (USR1) makes the writer reopen the file by name.
#pragma once

#include <atomic>
#include <condition_variable>
#include <memory>
#include <mutex>
#include <string>
#include <thread>
#include <vector>

#include "config/config.h"
#include "gryphon/interceptor.h"

namespace gryphon::internal {

class AccessLog {
 public:
  // Opens `path` ("-" for stdout). Throws std::runtime_error naming the file if it can't.
  AccessLog(std::string path, AccessLogFormat format, int slot,
            std::atomic<std::uint64_t>* dropped_counter, std::size_t max_pending_bytes = 8u << 20);
  ~AccessLog();  // writes what is pending, then stops the writer
  AccessLog(const AccessLog&) = delete;
  AccessLog& operator=(const AccessLog&) = delete;

  void log(const CallInfo& call, const grpc::Status& status);
  void reopen() { reopen_.store(true); }

  // The line log() would queue, without its newline. Public for tests.
  std::string format(const CallInfo& call, const grpc::Status& status) const;
  void format_into(std::string& line, const CallInfo& call, const grpc::Status& status) const;

 private:
  void run();
  void open_file();
  void write_batch(const std::string& batch);

  const std::string path_;
  const AccessLogFormat format_;
  const int slot_;
  const std::size_t max_pending_bytes_;
  std::atomic<std::uint64_t>* dropped_counter_;  // in the slot's shared metrics, may be null

  int fd_ = -1;
  bool chunked_ = false;  // pipe or terminal: keep each write within PIPE_BUF
  std::mutex mutex_;
  std::condition_variable wake_;
  std::string pending_;
  bool stopping_ = false;
  std::atomic<bool> reopen_{false};
  std::thread writer_;
};

// The built-in interceptor that feeds an AccessLog.
class AccessLogInterceptor final : public Interceptor {
 public:
  explicit AccessLogInterceptor(std::shared_ptr<AccessLog> log) : log_(std::move(log)) {}
  grpc::Status on_start(CallInfo& call) override {
    // gRPC forgets the peer of a call that ends by deadline or cancel: read it while it is there.
    if (call.context != nullptr) (void)call.context->peer();
    return grpc::Status::OK;
  }
  void on_finish(CallInfo& call, grpc::Status& status) override { log_->log(call, status); }

 private:
  std::shared_ptr<AccessLog> log_;
};

}  // namespace gryphon::internal
