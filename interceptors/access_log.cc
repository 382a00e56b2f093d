#include "access_log.h"

#include "observability/json.h"

#include <fcntl.h>
#include <pthread.h>
#include <limits.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cerrno>
#include <charconv>
#include <chrono>
#include <cstring>
#include <stdexcept>

namespace gryphon::internal {
namespace {

// Writes `value` as `width` decimal digits.
char* put_digits(char* at, unsigned value, int width) {
  for (int i = width - 1; i >= 0; --i) {
    at[i] = static_cast<char>('0' + value % 10);
    value /= 10;
  }
  return at + width;
}

// Days since 1970-01-01 to a civil date (proleptic Gregorian; H. Hinnant's algorithm): gmtime_r
// takes glibc's time-zone lock, and the access log formats two or three times per RPC.
void civil_from_days(std::int64_t days, unsigned* year, unsigned* month, unsigned* day) {
  days += 719468;
  const std::int64_t era = (days >= 0 ? days : days - 146096) / 146097;
  const auto doe = static_cast<unsigned>(days - era * 146097);
  const unsigned yoe = (doe - doe / 1460 + doe / 36524 - doe / 146096) / 365;
  const unsigned doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
  const unsigned mp = (5 * doy + 2) / 153;
  *day = doy - (153 * mp + 2) / 5 + 1;
  *month = mp < 10 ? mp + 3 : mp - 9;
  *year = static_cast<unsigned>(static_cast<std::int64_t>(yoe) + era * 400 + (*month <= 2 ? 1 : 0));
}

// "2026-11-26T08:30:49.106Z", without snprintf or gmtime_r.
std::string_view format_time(std::chrono::system_clock::time_point t, char (&buffer)[32]) {
  const auto millis_total =
      std::chrono::duration_cast<std::chrono::milliseconds>(t.time_since_epoch()).count();
  std::int64_t seconds = millis_total / 1000;
  auto millis = millis_total % 1000;
  if (millis < 0) {
    millis += 1000;
    seconds -= 1;
  }
  std::int64_t days = seconds / 86400;
  std::int64_t in_day = seconds % 86400;
  if (in_day < 0) {
    in_day += 86400;
    days -= 1;
  }
  unsigned year = 0, month = 0, day = 0;
  civil_from_days(days, &year, &month, &day);
  char* at = put_digits(buffer, year, 4);
  *at++ = '-';
  at = put_digits(at, month, 2);
  *at++ = '-';
  at = put_digits(at, day, 2);
  *at++ = 'T';
  at = put_digits(at, static_cast<unsigned>(in_day / 3600), 2);
  *at++ = ':';
  at = put_digits(at, static_cast<unsigned>(in_day / 60 % 60), 2);
  *at++ = ':';
  at = put_digits(at, static_cast<unsigned>(in_day % 60), 2);
  *at++ = '.';
  at = put_digits(at, static_cast<unsigned>(millis), 3);
  *at++ = 'Z';
  return std::string_view(buffer, static_cast<std::size_t>(at - buffer));
}

// gRPC reports "ipv4:127.0.0.1:5000" / "ipv6:[::1]:5000"; logs carry the address alone.
std::string_view peer_address(std::string_view peer) {
  if (peer.substr(0, 5) == "ipv4:" || peer.substr(0, 5) == "ipv6:") peer.remove_prefix(5);
  return peer;
}

// One field appended in the chosen format. Numbers are written bare in JSON.
class LineWriter {
 public:
  LineWriter(std::string& out, AccessLogFormat format) : out_(out), format_(format) {
    if (format_ == AccessLogFormat::kJson) out_ += '{';
  }
  void field(std::string_view key, std::string_view value, bool number = false) {
    switch (format_) {
      case AccessLogFormat::kJson:
        // Keys are gryphon's own constants: plain ASCII, nothing to escape.
        out_ += first_ ? "\"" : ",\"";
        out_ += key;
        out_ += "\":";
        if (number) {
          out_ += value;
        } else {
          append_json_string(out_, value);
        }
        break;
      case AccessLogFormat::kLtsv:
        if (!first_) out_ += '\t';
        out_ += key;
        out_ += ':';
        if (value.find_first_of("\t\n\r") == std::string_view::npos) {
          out_ += value;
        } else {
          for (char c : value) out_ += (c == '\t' || c == '\n' || c == '\r') ? ' ' : c;
        }
        break;
      case AccessLogFormat::kText: {
        if (!first_) out_ += ' ';
        out_ += key;
        out_ += '=';
        const bool quote =
            value.empty() || value.find_first_of(" \"=\t\n\\") != std::string_view::npos;
        if (quote) {
          append_json_string(out_, value);
        } else {
          out_ += value;
        }
        break;
      }
    }
    first_ = false;
  }
  void number(std::string_view key, std::uint64_t value) {
    char buffer[24];
    const auto end = std::to_chars(buffer, buffer + sizeof(buffer), value).ptr;
    field(key, std::string_view(buffer, static_cast<std::size_t>(end - buffer)), true);
  }
  void finish() {
    if (format_ == AccessLogFormat::kJson) out_ += '}';
  }

 private:
  std::string& out_;
  AccessLogFormat format_;
  bool first_ = true;
};

}  // namespace

AccessLog::AccessLog(std::string path, AccessLogFormat format, int slot,
                     std::atomic<std::uint64_t>* dropped_counter, std::size_t max_pending_bytes)
    : path_(std::move(path)),
      format_(format),
      slot_(slot),
      max_pending_bytes_(max_pending_bytes),
      dropped_counter_(dropped_counter) {
  open_file();
  if (fd_ < 0) {
    throw std::runtime_error("--access-log: cannot open '" + path_ + "': " + std::strerror(errno) +
                             "; check the path and its directory's permissions");
  }
  writer_ = std::thread([this] {
    ::pthread_setname_np(::pthread_self(), "gryphon-alog");  // as top -H shows it
    run();
  });
}

AccessLog::~AccessLog() {
  {
    std::lock_guard lock(mutex_);
    stopping_ = true;
  }
  wake_.notify_one();
  writer_.join();
  if (fd_ > 2) ::close(fd_);
}

void AccessLog::open_file() {
  int fd =
      path_ == "-" ? 1 : ::open(path_.c_str(), O_WRONLY | O_APPEND | O_CREAT | O_CLOEXEC, 0644);
  if (fd < 0) return;
  struct stat st {};
  ::fstat(fd, &st);
  chunked_ = !S_ISREG(st.st_mode);
  if (fd_ > 2) ::close(fd_);
  fd_ = fd;
}

std::string AccessLog::format(const CallInfo& call, const grpc::Status& status) const {
  std::string line;
  format_into(line, call, status);
  return line;
}

void AccessLog::format_into(std::string& line, const CallInfo& call,
                            const grpc::Status& status) const {
  const char* code = code_name(status.error_code());
  const char* type = rpc_type_name(call.method->type);
  char time_buffer[32];
  LineWriter w(line, format_);
  w.field("time", format_time(call.start_wall +
                                  std::chrono::duration_cast<std::chrono::system_clock::duration>(
                                      call.duration),
                              time_buffer));
  w.field("level", status.ok() ? "info" : "warning");
  char message[96];
  std::size_t message_length = 0;
  for (std::string_view part : {std::string_view("finished "), std::string_view(type),
                                std::string_view(" call with code "), std::string_view(code)}) {
    part = part.substr(0, sizeof(message) - message_length);
    std::memcpy(message + message_length, part.data(), part.size());
    message_length += part.size();
  }
  w.field("msg", std::string_view(message, message_length));
  w.field("grpc.service", call.method->service);
  w.field("grpc.method", call.method->method);
  w.field("grpc.method_type", type);
  w.field("grpc.code", code);
  char millis[32];
  const double ms = std::chrono::duration<double, std::milli>(call.duration).count();
  const auto end =
      std::to_chars(millis, millis + sizeof(millis), ms, std::chars_format::fixed, 3).ptr;
  w.field("grpc.time_ms", std::string_view(millis, static_cast<std::size_t>(end - millis)), true);
  w.field("grpc.start_time", format_time(call.start_wall, time_buffer));
  if (call.context != nullptr) {
    Context& context = *call.context;
    w.field("peer.address", peer_address(context.peer()));
    const auto deadline = context.deadline();
    if (deadline != std::chrono::system_clock::time_point::max()) {
      w.field("grpc.request.deadline", format_time(deadline, time_buffer));
    }
    w.field("grpc.request_id", context.request_id());
    // The W3C trace id: the client's traceparent's, or the one a downstream call started.
    if (const std::string& trace = context.trace_id(); !trace.empty()) w.field("trace_id", trace);
    w.field("user_agent", context.metadata("user-agent"));
  }
  w.number("grpc.request.messages", call.messages_received);
  w.number("grpc.request.bytes", call.bytes_received);
  w.number("grpc.response.messages", call.messages_sent);
  w.number("grpc.response.bytes", call.bytes_sent);
  if (!status.ok()) w.field("grpc.error", status.error_message());
  w.number("slot", static_cast<std::uint64_t>(slot_));
  w.finish();
}

void AccessLog::log(const CallInfo& call, const grpc::Status& status) {
  // Formatted into a per-thread buffer that keeps its capacity: no allocation per line.
  thread_local std::string line;
  line.clear();
  format_into(line, call, status);
  line += '\n';
  {
    std::lock_guard lock(mutex_);
    if (pending_.size() + line.size() <= max_pending_bytes_) {
      const bool was_empty = pending_.empty();
      pending_ += line;
      if (!was_empty) return;
    } else {
      if (dropped_counter_ != nullptr) dropped_counter_->fetch_add(1, std::memory_order_relaxed);
      return;
    }
  }
  wake_.notify_one();
}

void AccessLog::run() {
  std::string batch;
  while (true) {
    {
      std::unique_lock lock(mutex_);
      // Wait briefly even when woken, so one write carries many lines under load.
      wake_.wait_for(lock, std::chrono::milliseconds(100),
                     [&] { return stopping_ || !pending_.empty(); });
      if (!stopping_) wake_.wait_for(lock, std::chrono::milliseconds(5), [&] { return stopping_; });
      batch.swap(pending_);
      if (batch.empty() && stopping_) return;
    }
    if (reopen_.exchange(false)) open_file();
    write_batch(batch);
    batch.clear();
  }
}

void AccessLog::write_batch(const std::string& batch) {
  std::size_t offset = 0;
  while (offset < batch.size()) {
    std::size_t length = batch.size() - offset;
    if (chunked_ && length > PIPE_BUF) {
      // Whole lines only, at most PIPE_BUF bytes (a longer single line goes alone).
      const std::size_t cut = batch.rfind('\n', offset + PIPE_BUF - 1);
      length = (cut != std::string::npos && cut >= offset) ? cut + 1 - offset
                                                           : batch.find('\n', offset) + 1 - offset;
    }
    const ssize_t n = ::write(fd_, batch.data() + offset, length);
    if (n < 0) {
      if (errno == EINTR) continue;
      return;  // the log is gone (disk full, closed pipe): drop this batch, keep serving
    }
    offset += static_cast<std::size_t>(n);
  }
}

}  // namespace gryphon::internal
