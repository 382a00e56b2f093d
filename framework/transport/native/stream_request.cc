// The request side of a Stream (I/O thread): headers, message bytes split off and inflated
// within the stream's and the session's budgets, the end of the request, the first-message
// timeout, flow-control credit and the close. The rest of the class is in stream.cc.
#include "transport/native/stream.h"

#include "transport/native/grpc_wire.h"
#include "transport/native/header_block.h"
#include "transport/native/session.h"

namespace gryphon::internal::native {
namespace {

// `buffer` starts with a whole length-prefixed message.
bool holds_whole_message(const std::string& buffer) {
  if (buffer.size() < 5) return false;
  std::size_t length = 0;
  for (int i = 1; i < 5; ++i) length = length << 8 | static_cast<std::uint8_t>(buffer[i]);
  return buffer.size() >= 5 + length;
}

}  // namespace

void Stream::on_header(std::string_view name, std::string_view value) {
  header_bytes_ += name.size() + value.size() + 32;
  if (header_bytes_ > session_->config().max_metadata_size) return;  // refused at the end
  if (name == ":method")
    method_ = value;
  else if (name == ":path")
    path_ = value;
  else if (name == "content-type")
    content_type_ = value;
  else if (name == "grpc-encoding")
    encoding_ = value;
  else if (name == "grpc-accept-encoding")
    accept_encoding_ = value;
  else if (name == "grpc-timeout") {
    if (const auto timeout = parse_grpc_timeout(value); timeout && *timeout < kNoTimeout)
      deadline_ = std::chrono::system_clock::now() +
                  std::chrono::duration_cast<std::chrono::system_clock::duration>(*timeout);
  }
  // Transport headers are not application metadata (gRPC C++ does not show them either).
  if (!name.empty() && name[0] == ':') return;
  if (name == "te" || name == "content-type" || name == "grpc-timeout" || name == "grpc-encoding" ||
      name == "grpc-accept-encoding")
    return;
  std::string key(name);
  std::string text = is_binary(key) ? base64_decode(value) : std::string(value);
  metadata_.emplace(std::move(key), std::move(text));
}

void Stream::answer_http(const char* status) {
  const nghttp2_nv headers[] = {field(":status", status, NGHTTP2_NV_FLAG_NONE)};
  nghttp2_submit_response(session_->raw(), id_, headers, 1, nullptr);
  request_failed_ = true;
  std::lock_guard lock(mutex_);
  finished_ = true;
  headers_sent_ = true;
}

void Stream::fail_request(const grpc::Status& status) {
  request_failed_ = true;
  finish(status);
}

void Stream::on_headers_end() {
  if (method_ != "POST") return answer_http("405");
  if (content_type_.rfind("application/grpc", 0) != 0) return answer_http("415");
  const Config& config = session_->config();
  if (header_bytes_ > config.max_metadata_size) {
    return fail_request(grpc::Status(
        grpc::StatusCode::RESOURCE_EXHAUSTED,
        "request metadata of " + std::to_string(header_bytes_) + " bytes is over the limit of " +
            std::to_string(config.max_metadata_size) + " (--max-metadata-size)"));
  }
  Dispatcher& dispatcher = session_->dispatcher();
  call_method_ = dispatcher.find(path_);
  // A stream that came without a deadline gets --default-stream-deadline, enforced here like the
  // client's (built-in streams such as health Watch are meant to last).
  if (deadline_ == std::chrono::system_clock::time_point::max() && call_method_ != nullptr &&
      call_method_->def.type != RpcType::kUnary && !call_method_->builtin &&
      config.default_stream_deadline.count() > 0) {
    deadline_ = std::chrono::system_clock::now() + config.default_stream_deadline;
  }
  if (deadline_ != std::chrono::system_clock::time_point::max()) {
    deadline_timer_.emplace(session_->io());
    deadline_timer_->expires_after(deadline_ - std::chrono::system_clock::now());
    deadline_timer_->async_wait([self = shared_from_this()](const boost::system::error_code& ec) {
      if (ec) return;
      self->cancelled_ = true;
      self->notify();
      self->finish(grpc::Status(grpc::StatusCode::DEADLINE_EXCEEDED, "Deadline Exceeded"));
      self->cancelled_now();
    });
  }
  if (call_method_ == nullptr) {
    finish(dispatcher.run_unknown(dispatcher.unknown_method(path_), *this, path_));
    return;
  }
  // The call starts once it has work (take_messages, on_end_of_request); until then it holds no
  // slot and no thread, for at most --first-message-timeout.
  if (config.first_message_timeout.count() > 0) session_->watch_first_message(shared_from_this());
}

void Stream::on_first_message_timeout() {
  if (started_ || request_failed_) return;
  fail_request(grpc::Status(
      grpc::StatusCode::CANCELLED,
      std::string(call_method_->def.type == RpcType::kUnary ? "the request was not complete"
                                                            : "no request message arrived") +
          " within " + option_seconds(session_->config().first_message_timeout) +
          " of the call's headers (--first-message-timeout)"));
}

void Stream::shed(std::size_t limit) {
  if (started_ || request_failed_ || accounted_ == 0) return;
  {
    std::lock_guard lock(mutex_);
    inbox_.clear();
    inbox_bytes_ = 0;
  }
  std::string().swap(pending_);  // its memory too, not only its size
  account();
  credit();
  fail_request(grpc::Status(grpc::StatusCode::RESOURCE_EXHAUSTED,
                            "the server holds more than twice its limit of " +
                                std::to_string(limit >> 20) +
                                " MiB of buffered request bytes; retry later"));
}

void Stream::on_data(const std::uint8_t* data, std::size_t size) {
  uncredited_ += size;
  if (!request_failed_) pending_.append(reinterpret_cast<const char*>(data), size);
  take_messages();
}

void Stream::take_messages() {
  std::optional<grpc::Status> failure;
  bool added = false;
  bool wanted = !request_failed_;
  const bool unary = call_method_ != nullptr && call_method_->def.type == RpcType::kUnary;
  while (wanted && !pending_.empty()) {
    if (unary && messages_taken_ == 1) {  // failed before the second message is inflated
      failure = grpc::Status(grpc::StatusCode::INTERNAL, "a unary call got several requests");
      break;
    }
    {
      std::lock_guard lock(mutex_);
      wanted = !over_locked();
      // The handler is behind, or the connection holds its budget of request bytes: the rest waits
      // as it arrived (compressed) until there is room.
      if (!wanted || inbox_bytes_ >= kStreamInboxLimit) break;
    }
    // Over the connection's request budget only inflating waits: an uncompressed message moves
    // from pending_ to the inbox at no cost, and taking it may free the budget (a unary call
    // starts and hands its request over).
    if (static_cast<std::uint8_t>(pending_[0]) == 1 && session_->over_request_budget()) {
      if (!stalled_) {
        stalled_ = true;
        session_->stall(shared_from_this());  // unstall() once there is room
      }
      break;
    }
    std::string message;
    const FrameResult result =
        take_message(pending_, session_->config().max_receive_message_size, encoding_, &message);
    if (result.status) failure = result.status;
    if (!result.complete) break;
    ++messages_taken_;
    std::lock_guard lock(mutex_);
    inbox_bytes_ += message.size() + kMessageCost;
    inbox_.push_back({std::move(message), result.compressed});
    added = true;
  }
  if (!wanted || failure) std::string().swap(pending_);
  std::size_t held = 0;
  {
    // The client's window reopens unless the handler is behind; bytes nobody reads reopen it now.
    std::lock_guard lock(mutex_);
    if (!closed_ && (!wanted || failure ||
                     (inbox_bytes_ < kStreamInboxLimit &&
                      pending_.size() <= session_->config().max_receive_message_size + 5)))
      credit();
    held = held_locked();
  }
  account(held);
  if (added) notify();
  if (failure) return fail_request(*failure);
  if (added && !unary && call_method_ != nullptr) start_call();
  end_request_if_taken();
}

void Stream::account() {
  std::size_t held = 0;
  {
    std::lock_guard lock(mutex_);
    held = held_locked();
  }
  account(held);
}

void Stream::account(std::size_t now) {
  if (now == accounted_) return;
  session_->change_request_bytes(static_cast<std::int64_t>(now) -
                                 static_cast<std::int64_t>(accounted_));
  accounted_ = now;
}

void Stream::credit() {
  if (uncredited_ == 0) return;
  session_->credit(id_, uncredited_);
  uncredited_ = 0;
}

void Stream::on_end_of_request() {
  request_ended_seen_ = true;
  end_request_if_taken();
}

void Stream::end_request_if_taken() {
  if (request_failed_ || !request_ended_seen_ || request_end_delivered_) return;
  if (!pending_.empty()) {
    // Whole messages that wait for room are taken later; half a message never will be.
    if (!holds_whole_message(pending_))
      fail_request(grpc::Status(grpc::StatusCode::INTERNAL, "the request ended inside a message"));
    return;
  }
  request_end_delivered_ = true;
  {
    std::lock_guard lock(mutex_);
    request_ended_ = true;
  }
  notify();
  if (call_method_ != nullptr) start_call();
}

void Stream::on_closed() {
  {
    std::lock_guard lock(mutex_);
    closed_ = true;
    session_->remove_unsent(outbox_.size() - sent_);  // never to be sent
    sent_ = outbox_.size();
    if (!finished_) cancelled_ = true;  // the client went away (RST_STREAM) before the status
  }
  std::string().swap(pending_);
  account();
  session_->forget_first_message(awaiting_first);
  if (deadline_timer_) deadline_timer_->cancel();
  notify();
  if (cancelled_) cancelled_now();
}

}  // namespace gryphon::internal::native
