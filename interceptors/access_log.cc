#include "access_log.h"

#include <fcntl.h>
#include <limits.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cerrno>
#include <charconv>
#include <chrono>
#include <cstring>
#include <ctime>
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

// "2026-11-26T08:30:49.106Z", without snprintf: the access log formats several per RPC.
void append_time(std::string& out, std::chrono::system_clock::time_point t) {
  const auto since = t.time_since_epoch();
  const std::time_t seconds = static_cast<std::time_t>(std::chrono::duration_cast<std::chrono::seconds>(since).count());
  const auto millis = static_cast<unsigned>(std::chrono::duration_cast<std::chrono::milliseconds>(since).count() % 1000);
  std::tm tm{};
  ::gmtime_r(&seconds, &tm);
  char buffer[24];
  char* at = put_digits(buffer, static_cast<unsigned>(tm.tm_year + 1900), 4);
  *at++ = '-';
  at = put_digits(at, static_cast<unsigned>(tm.tm_mon + 1), 2);
  *at++ = '-';
  at = put_digits(at, static_cast<unsigned>(tm.tm_mday), 2);
  *at++ = 'T';
  at = put_digits(at, static_cast<unsigned>(tm.tm_hour), 2);
  *at++ = ':';
  at = put_digits(at, static_cast<unsigned>(tm.tm_min), 2);
  *at++ = ':';
  at = put_digits(at, static_cast<unsigned>(tm.tm_sec), 2);
  *at++ = '.';
  at = put_digits(at, millis, 3);
  *at++ = 'Z';
  out.append(buffer, static_cast<std::size_t>(at - buffer));
}

std::string time_text(std::chrono::system_clock::time_point t) {
  std::string s;
  append_time(s, t);
  return s;
}

// gRPC reports "ipv4:127.0.0.1:5000" / "ipv6:[::1]:5000"; logs carry the address alone.
std::string peer_address(const std::string& peer) {
  if (peer.rfind("ipv4:", 0) == 0 || peer.rfind("ipv6:", 0) == 0) return peer.substr(5);
  return peer;
}

void append_json_string(std::string& out, std::string_view value) {
  static const char* hex = "0123456789abcdef";
  out += '"';
  // Copy runs that need no escaping in one go; most values are a single run.
  std::size_t run = 0;
  for (std::size_t i = 0; i < value.size(); ++i) {
    const auto c = static_cast<unsigned char>(value[i]);
    if (c >= 0x20 && c != '"' && c != '\\') continue;
    out.append(value.data() + run, i - run);
    run = i + 1;
    switch (c) {
      case '"': out += "\\\""; break;
      case '\\': out += "\\\\"; break;
      case '\n': out += "\\n"; break;
      case '\r': out += "\\r"; break;
      case '\t': out += "\\t"; break;
      default:
        out += "\\u00";
        out += hex[(c >> 4) & 0xf];
        out += hex[c & 0xf];
    }
  }
  out.append(value.data() + run, value.size() - run);
  out += '"';
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
        if (!first_) out_ += ',';
        append_json_string(out_, key);
        out_ += ':';
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
        const bool quote = value.empty() || value.find_first_of(" \"=\t\n\\") != std::string_view::npos;
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

AccessLog::AccessLog(std::string path, AccessLogFormat format, int slot, std::atomic<std::uint64_t>* dropped_counter,
                     std::size_t max_pending_bytes)
    : path_(std::move(path)), format_(format), slot_(slot), max_pending_bytes_(max_pending_bytes),
      dropped_counter_(dropped_counter) {
  open_file();
  if (fd_ < 0) {
    throw std::runtime_error("--access-log: cannot open '" + path_ + "': " + std::strerror(errno) +
                             "; check the path and its directory's permissions");
  }
  writer_ = std::thread([this] { run(); });
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
  int fd = path_ == "-" ? 1 : ::open(path_.c_str(), O_WRONLY | O_APPEND | O_CREAT | O_CLOEXEC, 0644);
  if (fd < 0) return;
  struct stat st {};
  ::fstat(fd, &st);
  chunked_ = !S_ISREG(st.st_mode);
  if (fd_ > 2) ::close(fd_);
  fd_ = fd;
}

std::string AccessLog::format(const CallInfo& call, const grpc::Status& status) const {
  std::string line;
  line.reserve(400);
  const char* code = code_name(status.error_code());
  const char* type = rpc_type_name(call.method->type);
  LineWriter w(line, format_);
  w.field("time", time_text(call.start_wall + std::chrono::duration_cast<std::chrono::system_clock::duration>(call.duration)));
  w.field("level", status.ok() ? "info" : "warning");
  w.field("msg", std::string("finished ") + type + " call with code " + code);
  w.field("grpc.service", call.method->service);
  w.field("grpc.method", call.method->method);
  w.field("grpc.method_type", type);
  w.field("grpc.code", code);
  char millis[32];
  const double ms = std::chrono::duration<double, std::milli>(call.duration).count();
  const auto end = std::to_chars(millis, millis + sizeof(millis), ms, std::chars_format::fixed, 3).ptr;
  w.field("grpc.time_ms", std::string_view(millis, static_cast<std::size_t>(end - millis)), true);
  w.field("grpc.start_time", time_text(call.start_wall));
  if (call.context != nullptr) {
    Context& context = *call.context;
    w.field("peer.address", peer_address(context.peer()));
    if (context.has_deadline()) w.field("grpc.request.deadline", time_text(context.deadline()));
    w.field("grpc.request_id", context.request_id());
    w.field("user_agent", context.metadata("user-agent"));
  }
  w.number("grpc.request.messages", call.messages_received);
  w.number("grpc.request.bytes", call.bytes_received);
  w.number("grpc.response.messages", call.messages_sent);
  w.number("grpc.response.bytes", call.bytes_sent);
  if (!status.ok()) w.field("grpc.error", status.error_message());
  w.number("slot", static_cast<std::uint64_t>(slot_));
  w.finish();
  return line;
}

void AccessLog::log(const CallInfo& call, const grpc::Status& status) {
  std::string line = format(call, status);
  line += '\n';
  {
    std::lock_guard lock(mutex_);
    if (pending_.size() + line.size() <= max_pending_bytes_) {
      const bool was_empty = pending_.empty();
      pending_ += line;
      if (!was_empty) return;
    } else {
      dropped_.fetch_add(1, std::memory_order_relaxed);
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
      wake_.wait_for(lock, std::chrono::milliseconds(100), [&] { return stopping_ || !pending_.empty(); });
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
      length = (cut != std::string::npos && cut >= offset) ? cut + 1 - offset : batch.find('\n', offset) + 1 - offset;
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
