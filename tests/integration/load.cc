#include "load.h"

#include <grpcpp/impl/codegen/proto_utils.h>

#include <sstream>

#include "drill.pb.h"
#include "greeter.pb.h"
#include "harness.h"

namespace gryphon::test {

struct LoadGenerator::Call {
  int channel = 0;
  grpc::ClientContext context;
  grpc::ByteBuffer response;
  grpc::Status status;
  std::unique_ptr<grpc::GenericClientAsyncResponseReader> rpc;
};

namespace {

template <class M>
grpc::ByteBuffer serialize(const M& message) {
  grpc::ByteBuffer buffer;
  bool own = false;
  (void)grpc::GenericSerialize<grpc::ProtoBufferWriter, M>(message, &buffer, &own);
  return buffer;
}

}  // namespace

LoadGenerator::LoadGenerator(LoadOptions options) : options_(std::move(options)) {
  if (options_.sleep_ms > 0 || options_.method == "/gryphon.test.Drill/Sleep") {
    options_.method = "/gryphon.test.Drill/Sleep";
    gryphon::test::SleepRequest request;
    request.set_millis(options_.sleep_ms);
    request_ = serialize(request);
  } else {
    helloworld::HelloRequest request;
    request.set_name("drill");
    request_ = serialize(request);
  }
  for (int i = 0; i < options_.connections; ++i) {
    grpc::ChannelArguments args;
    args.SetInt("gryphon.test.channel", i);  // distinct arguments: a separate connection each
    auto channel =
        grpc::CreateCustomChannel(options_.target, grpc::InsecureChannelCredentials(), args);
    stubs_.push_back(std::make_unique<grpc::GenericStub>(channel));
  }
}

LoadGenerator::~LoadGenerator() {
  stop();
  cq_.Shutdown();
  if (thread_.joinable()) thread_.join();
}

void LoadGenerator::start() {
  issuing_.store(true);
  started_ = true;
  thread_ = std::thread([this] {
    void* tag = nullptr;
    bool ok = false;
    while (cq_.Next(&tag, &ok)) complete(static_cast<Call*>(tag), ok);
  });
  for (int i = 0; i < options_.in_flight; ++i) issue(i % options_.connections);
}

void LoadGenerator::issue(int channel) {
  auto* call = new Call();
  call->channel = channel;
  call->context.set_deadline(std::chrono::system_clock::now() + options_.deadline);
  outstanding_.fetch_add(1);
  call->rpc = stubs_[static_cast<std::size_t>(channel)]->PrepareUnaryCall(
      &call->context, options_.method, request_, &cq_);
  call->rpc->StartCall();
  call->rpc->Finish(&call->response, &call->status, call);
}

void LoadGenerator::complete(Call* call, bool) {
  if (call->status.ok()) {
    ok_.fetch_add(1);
  } else {
    failed_.fetch_add(1);
    std::lock_guard lock(mutex_);
    ++failures_[call->status.error_code()];
    if (samples_.size() < 5) samples_.push_back(call->status.error_message());
  }
  const int channel = call->channel;
  delete call;
  if (issuing_.load()) issue(channel);
  outstanding_.fetch_sub(1);
}

void LoadGenerator::stop() {
  issuing_.store(false);
  if (!started_) return;
  wait_until([&] { return outstanding_.load() == 0; }, options_.deadline + std::chrono::seconds(2));
}

std::map<int, std::uint64_t> LoadGenerator::failures_by_code() const {
  std::lock_guard lock(mutex_);
  return failures_;
}

std::string LoadGenerator::report() const {
  std::lock_guard lock(mutex_);
  std::ostringstream out;
  out << ok_.load() << " ok, " << failed_.load() << " failed";
  for (const auto& [code, count] : failures_) out << "; code " << code << " x" << count;
  for (const auto& sample : samples_) out << "\n  e.g. " << sample;
  return out.str();
}

bool LoadGenerator::warm_up(std::uint64_t count, std::chrono::milliseconds timeout) {
  start();
  return wait_for_ok(count, timeout);
}

bool LoadGenerator::wait_for_more(std::uint64_t count, std::chrono::milliseconds timeout) const {
  return wait_for_ok(ok() + count, timeout);
}

bool LoadGenerator::wait_for_ok(std::uint64_t count, std::chrono::milliseconds timeout) const {
  return wait_until([&] { return ok_.load() >= count; }, timeout);
}

}  // namespace gryphon::test
