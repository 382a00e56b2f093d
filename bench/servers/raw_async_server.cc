// bench_raw_async: the Echo service on gRPC C++'s asynchronous completion-queue API, the fastest
// way gRPC C++ serves unary RPCs. --threads T gives T completion queues with one polling thread
// each; every queue keeps --prepost requests posted so a new RPC never waits for a repost.

#include <grpcpp/grpcpp.h>

#include <chrono>
#include <cstdint>
#include <iostream>
#include <memory>
#include <mutex>
#include <optional>
#include <thread>
#include <vector>

#include "echo.grpc.pb.h"
#include "server_support.h"

namespace gryphon::bench {
namespace {

// What one polling thread owns. The mutex makes "is the server stopping?" and the repost of a
// request one step, so no request is posted once the main thread has begun the shutdown (a post
// after the queue's Shutdown() would break gRPC's contract).
struct QueueState {
  std::unique_ptr<grpc::ServerCompletionQueue> cq;
  std::mutex mutex;
  bool stopping = false;
  std::uint64_t ok_rpcs = 0;
};

// One posted request, reused for RPC after RPC: requested -> finishing -> requested again.
class CallSlot {
 public:
  CallSlot(Echo::AsyncService& service, QueueState& queue) : service_(service), queue_(queue) {}

  // Posts the first request; called before the polling thread starts.
  void start() { post(); }

  // Handles this slot's completion-queue event; returns false once the slot is retired.
  bool on_event(bool ok) {
    if (state_ == State::kRequested) {
      if (!ok) {
        return retire();
      }
      echo(request_, &response_);
      state_ = State::kFinishing;
      writer_->Finish(response_, grpc::Status::OK, this);
      return true;
    }
    std::lock_guard lock(queue_.mutex);
    if (ok) {
      ++queue_.ok_rpcs;
    }
    if (queue_.stopping) {
      return retire();
    }
    post();
    return true;
  }

 private:
  enum class State { kRequested, kFinishing };

  void post() {
    writer_.reset();
    context_.emplace();
    writer_.emplace(&*context_);
    request_.Clear();
    response_.Clear();
    state_ = State::kRequested;
    service_.RequestCall(&*context_, &request_, &*writer_, queue_.cq.get(), queue_.cq.get(), this);
  }

  bool retire() {
    writer_.reset();
    context_.reset();
    return false;
  }

  Echo::AsyncService& service_;
  QueueState& queue_;
  State state_ = State::kRequested;
  std::optional<grpc::ServerContext> context_;
  std::optional<grpc::ServerAsyncResponseWriter<EchoResponse>> writer_;
  EchoRequest request_;
  EchoResponse response_;
};

void poll(QueueState& queue) {
  void* tag = nullptr;
  bool ok = false;
  while (queue.cq->Next(&tag, &ok)) {
    static_cast<CallSlot*>(tag)->on_event(ok);
  }
}

}  // namespace
}  // namespace gryphon::bench

int main(int argc, char** argv) {
  using namespace gryphon::bench;
  ServerFlags flags = parse_server_flags(
      argc, argv, "Echo server on the gRPC C++ async completion-queue API", true);
  block_server_signals();

  Echo::AsyncService service;
  grpc::ServerBuilder builder;
  int port = 0;
  builder.AddListeningPort(flags.listen, grpc::InsecureServerCredentials(), &port);
  builder.RegisterService(&service);
  std::vector<std::unique_ptr<QueueState>> queues;
  for (int i = 0; i < flags.threads; ++i) {
    queues.push_back(std::make_unique<QueueState>());
    queues.back()->cq = builder.AddCompletionQueue();
  }
  std::unique_ptr<grpc::Server> server = builder.BuildAndStart();
  if (!server || port == 0) {
    std::cerr << argv[0] << ": cannot listen on " << flags.listen << "\n";
    return 1;
  }

  std::vector<std::unique_ptr<CallSlot>> slots;
  for (auto& queue : queues) {
    for (int i = 0; i < flags.prepost; ++i) {
      slots.push_back(std::make_unique<CallSlot>(service, *queue));
      slots.back()->start();
    }
  }
  std::vector<std::thread> threads;
  for (auto& queue : queues) {
    threads.emplace_back(poll, std::ref(*queue));
  }
  announce_listening(flags.listen, port);

  auto ok_rpcs = [&queues] {
    std::uint64_t total = 0;
    for (auto& queue : queues) {
      std::lock_guard lock(queue->mutex);
      total += queue->ok_rpcs;
    }
    return total;
  };
  serve_until_stopped(ok_rpcs);
  for (auto& queue : queues) {
    std::lock_guard lock(queue->mutex);
    queue->stopping = true;
  }
  server->Shutdown(std::chrono::system_clock::now() + std::chrono::seconds(2));
  for (auto& queue : queues) {
    queue->cq->Shutdown();
  }
  for (auto& thread : threads) {
    thread.join();
  }
  announce_ok_rpcs(ok_rpcs());
  return 0;
}
