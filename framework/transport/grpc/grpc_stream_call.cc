// A streaming call of the gRPC transport: its first read on the completion queue, then the
// handler on the pool, blocking on each operation (grpc_calls.h has the threading rules).
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
// the CQ thread reports the operation complete (a read at most stream_idle_timeout).
class StreamCall final : public Tag, public RawStream {
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
    server_context_.AsyncNotifyWhenDone(&done_);
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
    if (Dispatcher::runs_on_io_thread(method_, admission_)) {
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
    boost::asio::post(shared_.dispatcher.pool(), [this] { serve(); });
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
    call_.end(grpc::Status(grpc::StatusCode::CANCELLED,
                           "a stream write did not complete in " + option_seconds(limit) +
                               ": the client reads nothing (--stream-write-timeout)"));
    shared_.dispatcher.stats().write_timeouts.fetch_add(1, std::memory_order_relaxed);
    log::process()->info("cancelling a stream of {}: {}", call_.peer(),
                         call_.ended_by_transport()->error_message());
    server_context_.TryCancel();
    write_op_.wait();
    return false;
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
