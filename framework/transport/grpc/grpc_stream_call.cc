// A streaming call of the gRPC transport: its first read on the completion queue, then the
// handler on the pool, blocking on each operation (grpc_calls.h has the threading rules) — or an
// async handler's coroutine on the queue's loop, whose operations the CQ thread reports there.
#include <grpcpp/alarm.h>
#include <grpcpp/support/async_stream.h>

#include <boost/asio/post.hpp>
#include <optional>
#include <semaphore>

#include "config/config.h"
#include "observability/logging.h"
#include "transport/grpc/grpc_call_parts.h"

namespace gryphon::internal::grpc_transport {
namespace {

// A blocking operation: the pool thread starts it and waits; the CQ thread completes it.
class Operation final : public Tag {
 public:
  void proceed(bool ok) override {
    ok_ = ok;
    done_.release();
  }
  bool wait() {
    done_.acquire();
    return ok_;
  }
  // False if the operation has not completed within `timeout` (it is still under way).
  bool wait_for(std::chrono::milliseconds timeout, bool* ok) {
    if (!done_.try_acquire_for(timeout)) return false;
    *ok = ok_;
    return true;
  }

 private:
  std::binary_semaphore done_{0};
  bool ok_ = false;
};

// A streaming call (any of the three kinds, registered as bidi). Its first read is made on the CQ,
// so a call that sends headers and nothing else holds no slot and no thread; it is cancelled after
// first_message_timeout. Then the handler runs on the pool and blocks on each read and write until
// the CQ thread reports the operation complete (a read at most stream_idle_timeout). An async
// handler's call runs on the queue's loop instead: each operation is started there and its
// completion posted back there (every reference-holding step drops its reference on the loop).
class StreamCall final : public Tag, public RawStream, public detail::AsyncRawStream {
 public:
  StreamCall(CallShared& shared, const Queue& queue, const BoundMethod& method, int index)
      : shared_(shared),
        queue_(queue),
        method_(method),
        index_(index),
        stream_(&server_context_),
        done_(this),
        finished_(this),
        first_read_(this, &StreamCall::on_first_read),
        first_timeout_(this, &StreamCall::on_first_timeout),
        deadline_(this, &StreamCall::on_deadline) {}

  void request() {
    server_context_.AsyncNotifyWhenDone(method_.def.is_async() ? static_cast<Tag*>(&async_done_)
                                                               : &done_);
    shared_.service.RequestAsyncBidiStreaming(index_, &server_context_, &stream_, queue_.cq,
                                              queue_.cq, this);
  }

  void proceed(bool ok) override {
    if (!ok) {  // never matched: gRPC will not deliver the done tag either
      delete this;
      return;
    }
    if (!shared_.shutting_down.load(std::memory_order_relaxed)) {
      (new StreamCall(shared_, queue_, method_, index_))->request();
    }
    call_.reset(&server_context_, true);
    if (shared_.first_message_timeout.count() > 0) {
      refs_.fetch_add(1);  // the alarm's event comes, fired or cancelled
      alarm_.Set(queue_.cq, std::chrono::system_clock::now() + shared_.first_message_timeout,
                 &first_timeout_);
    }
    stream_.Read(&buffer_, &first_read_);
  }

  // The first message, or the end of the request, arrived (CQ thread): the call starts now.
  void on_first_read(bool ok) {
    if (first_settled_.exchange(true)) {  // too late: the timeout cancelled the call
      stream_.Finish(grpc::Status(grpc::StatusCode::CANCELLED,
                                  "no request message arrived in time (--first-message-timeout)"),
                     &finished_);
      return;
    }
    if (shared_.first_message_timeout.count() > 0) alarm_.Cancel();
    first_ok_ = ok;
    admission_ = shared_.dispatcher.admit(method_);
    if (!admission_) {
      serve();  // refused: answered at once with RESOURCE_EXHAUSTED, through the interceptors
      return;
    }
    // --default-stream-deadline, for a stream the client gave none: gRPC's own deadline cannot be
    // set from here, so the call is cancelled when it passes (the client sees CANCELLED).
    const auto fallback = shared_.default_stream_deadline;
    if (fallback.count() > 0 && !method_.builtin &&
        server_context_.deadline() == std::chrono::system_clock::time_point::max()) {
      refs_.fetch_add(1);  // the alarm's event comes, fired or cancelled
      deadline_armed_ = true;
      deadline_alarm_.Set(queue_.cq, std::chrono::system_clock::now() + fallback, &deadline_);
    }
    if (method_.def.is_async()) {
      boost::asio::post(*queue_.loop, [this] { serve_async(); });
    } else {
      boost::asio::post(shared_.dispatcher.pool(), [this] { serve(); });
    }
  }

  void on_deadline(bool fired) {
    if (fired) server_context_.TryCancel();
    unref();
  }

  void on_first_timeout(bool fired) {
    if (fired && !first_settled_.exchange(true)) server_context_.TryCancel();  // ends the read
    unref();
  }

  bool read(std::string& message) override {
    if (first_pending_) {
      first_pending_ = false;
      if (!first_ok_) return false;
    } else {
      if (!first_ok_) return false;
      stream_.Read(&buffer_, &read_op_);
      if (!wait_read()) return false;
    }
    grpc::Slice single;
    const std::string_view bytes = bytes_of(buffer_, single, message);
    if (bytes.data() != message.data()) message.assign(bytes);
    return true;
  }

  bool write(std::string_view message, const WriteOptions& options) override {
    if (last_message_) return false;  // the last message was written already
    if (options.last_message) {
      // Held until the handler returns: it leaves with the status in one operation (waiting for a
      // buffered write here would wait for the status that follows it).
      last_message_ = to_buffer(message);
      last_options_ = options;
      return true;
    }
    stream_.Write(to_buffer(message), grpc_options(options), &write_op_);
    initial_metadata_sent_ = true;
    return wait_write();
  }

  bool send_initial_metadata() override {
    if (initial_metadata_sent_) return true;
    initial_metadata_sent_ = true;
    stream_.SendInitialMetadata(&write_op_);
    return write_op_.wait();
  }

  void unref() {
    if (refs_.fetch_sub(1) == 1) delete this;
  }

  // ---- AsyncRawStream (an async handler's call: the queue's loop)
  Poll poll_read(std::string& message) override {
    if (first_pending_) {
      first_pending_ = false;
      if (!first_ok_) return Poll::kEnded;
      take(message);
      return Poll::kReady;
    }
    if (!first_ok_) return Poll::kEnded;
    switch (read_state_) {
      case Op::kPending: return Poll::kWait;
      case Op::kFailed: first_ok_ = false; return Poll::kEnded;  // no more reads
      case Op::kDone:
        read_state_ = Op::kIdle;
        take(message);
        return Poll::kReady;
      case Op::kIdle: break;
    }
    start(read_state_);
    stream_.Read(&buffer_, &async_read_);
    return Poll::kWait;
  }
  Poll poll_write(std::string_view message, const WriteOptions& options) override {
    if (last_message_ || write_state_ == Op::kFailed) return Poll::kEnded;
    if (write_state_ == Op::kPending) return Poll::kWait;
    if (options.last_message) {  // leaves with the status, as in write()
      last_message_ = to_buffer(message);
      last_options_ = options;
      return Poll::kReady;
    }
    start(write_state_);
    initial_metadata_sent_ = true;
    stream_.Write(to_buffer(message), grpc_options(options), &async_write_);
    return Poll::kReady;  // the next write, or the status, waits for it
  }
  Poll poll_send_initial_metadata() override {
    if (write_state_ == Op::kFailed) return Poll::kEnded;
    if (write_state_ == Op::kPending) return Poll::kWait;
    if (initial_metadata_sent_) return Poll::kReady;
    initial_metadata_sent_ = true;
    start(write_state_);
    stream_.SendInitialMetadata(&async_write_);
    return Poll::kWait;
  }
  Poll poll_flushed() override { return write_state_ == Op::kPending ? Poll::kWait : Poll::kReady; }
  void on_wake(std::function<void()> wake) override { wake_ = std::move(wake); }
  std::uint64_t write_progress() const override { return writes_done_; }
  Limits limits() const override {
    return {shared_.stream_idle_timeout, shared_.stream_write_timeout};
  }
  void read_timed_out() override {
    first_ok_ = false;  // no more reads; the pending one ends with the cancel
    server_context_.TryCancel();
  }
  void write_timed_out() override { give_up_write(); }

 private:
  void serve() {
    const grpc::Status status = shared_.dispatcher.run_stream(method_, call_, *this, admission_);
    if (deadline_armed_) deadline_alarm_.Cancel();
    if (admission_) {
      if (last_message_) {
        stream_.WriteAndFinish(*last_message_, grpc_options(last_options_), status, &finish_op_);
      } else {
        stream_.Finish(status, &finish_op_);
      }
      finish_op_.wait();
      admission_.reset();
      unref();
    } else {
      // On the CQ thread, so no waiting: the finish tag drops the reference.
      stream_.Finish(status, &finished_);
    }
  }

  // An async handler's call, on the queue's loop: the coroutine finishes the call when it is done
  // (after its last write completed: poll_flushed).
  void serve_async() {
    shared_.dispatcher.run_stream_async(
        method_, call_, *this, std::move(admission_), queue_.loop->get_executor(),
        [this](const grpc::Status& status, std::string&) {
          if (deadline_armed_) deadline_alarm_.Cancel();
          if (last_message_) {
            stream_.WriteAndFinish(*last_message_, grpc_options(last_options_), status, &finished_);
          } else {
            stream_.Finish(status, &finished_);
          }
        });
  }

  enum class Op { kIdle, kPending, kDone, kFailed };
  void start(Op& state) {
    state = Op::kPending;
    refs_.fetch_add(1);  // dropped on the loop once the operation is reported there
  }
  // A CQ thread reports an async operation; the loop learns it, and wakes the coroutine.
  void on_async_read(bool ok) {
    boost::asio::post(*queue_.loop, [this, ok] {
      read_state_ = ok ? Op::kDone : Op::kFailed;
      completed();
    });
  }
  void on_async_write(bool ok) {
    boost::asio::post(*queue_.loop, [this, ok] {
      write_state_ = ok ? Op::kIdle : Op::kFailed;
      ++writes_done_;
      completed();
    });
  }
  void completed() {
    if (wake_) wake_();
    unref();
  }
  void on_async_done(bool) { report_done(*queue_.loop, server_context_, call_, this); }
  void take(std::string& message) {
    grpc::Slice single;
    const std::string_view bytes = bytes_of(buffer_, single, message);
    if (bytes.data() != message.data()) message.assign(bytes);
  }

  // The handler's wait for a read, at most stream_idle_timeout: then the call is cancelled.
  bool wait_read() {
    const auto idle = shared_.stream_idle_timeout;
    if (idle.count() == 0) return read_op_.wait();
    bool ok = false;
    if (read_op_.wait_for(idle, &ok)) return ok;
    server_context_.TryCancel();
    read_op_.wait();
    first_ok_ = false;  // no more reads
    return false;
  }

  // The handler's wait for a write, at most stream_write_timeout: gRPC C++ completes a write once
  // its bytes left, so a client that opens no window holds it. Then the call is cancelled
  // (RST_STREAM CANCEL), logged and counted.
  bool wait_write() {
    const auto limit = shared_.stream_write_timeout;
    if (limit.count() == 0) return write_op_.wait();
    bool ok = false;
    if (write_op_.wait_for(limit, &ok)) return ok;
    give_up_write();
    write_op_.wait();
    return false;
  }

  void give_up_write() {
    call_.end(grpc::Status(grpc::StatusCode::CANCELLED,
                           "a stream write did not complete in " +
                               option_seconds(shared_.stream_write_timeout) +
                               ": the client reads nothing (--stream-write-timeout)"));
    shared_.dispatcher.stats().write_timeouts.fetch_add(1, std::memory_order_relaxed);
    log::process()->info("cancelling a stream of {}: {}", call_.peer(),
                         call_.ended_by_transport()->error_message());
    server_context_.TryCancel();
  }

  CallShared& shared_;
  Queue queue_;
  const BoundMethod& method_;
  int index_;
  grpc::ServerContext server_context_;
  grpc::ServerAsyncReaderWriter<grpc::ByteBuffer, grpc::ByteBuffer> stream_;
  GrpcServerCall call_;
  grpc::ByteBuffer buffer_;
  Operation read_op_;
  Operation write_op_;
  Operation finish_op_;
  Unref<StreamCall> done_;      // gRPC's done notification: the call is over for gRPC
  Unref<StreamCall> finished_;  // an overloaded call's finish, not waited for
  Step<StreamCall> first_read_, first_timeout_, deadline_;
  Step<StreamCall> async_read_{this, &StreamCall::on_async_read};
  Step<StreamCall> async_write_{this, &StreamCall::on_async_write};
  Step<StreamCall> async_done_{this, &StreamCall::on_async_done};
  // An async handler's call (its loop only): the operations under way, the coroutine's wake,
  // and the writes completed (its write timeout's progress).
  Op read_state_ = Op::kIdle, write_state_ = Op::kIdle;
  std::function<void()> wake_;
  std::uint64_t writes_done_ = 0;
  grpc::Alarm alarm_, deadline_alarm_;
  bool deadline_armed_ = false;
  std::atomic<bool> first_settled_{false};  // the first read or the timeout, whichever came first
  bool first_pending_ = true;               // the first read's message is the handler's first
  bool first_ok_ = false;
  std::atomic<int> refs_{2};  // the handler's finish and gRPC's done notification
  Admission admission_;
  bool initial_metadata_sent_ = false;
  std::optional<grpc::ByteBuffer> last_message_;
  WriteOptions last_options_;
};

}  // namespace

void request_stream_call(CallShared& shared, const Queue& queue, const BoundMethod& method,
                         int index) {
  (new StreamCall(shared, queue, method, index))->request();
}

}  // namespace gryphon::internal::grpc_transport
