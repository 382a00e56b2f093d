// Generated handlers serving real RPCs: starts served_server (a gryphon master with one worker)
// and calls it with grpc_cpp_plugin's standard client stubs — all four RPC kinds, error statuses,
// metadata in both directions, deadlines, cancellation, and the UNIMPLEMENTED default of a method
// nobody implemented; then the generated GreeterClient against the same server.
#include <fcntl.h>
#include <grpcpp/grpcpp.h>
#include <signal.h>
#include <spawn.h>
#include <sys/wait.h>
#include <unistd.h>

#include <catch2/catch.hpp>
#include <chrono>
#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <memory>
#include <sstream>
#include <string>
#include <thread>
#include <vector>

#include "acme/billing/v1/billing.grpc.pb.h"
#include "gryphon/testing.h"
#include "helloworld/greeter.gryphon.h"
#include "helloworld/greeter.grpc.pb.h"

extern char** environ;

namespace {

using namespace std::chrono_literals;

// One served_server for the whole test run, stopped (TERM, then KILL) when the run ends.
class ServedServer {
 public:
  ServedServer() {
    char dir_pattern[] = "/tmp/gryphon-codegen-served-XXXXXX";
    REQUIRE(::mkdtemp(dir_pattern) != nullptr);
    dir_ = dir_pattern;
    try {
      start();
    } catch (...) {  // a failed REQUIRE: leave no process and no directory behind
      stop();
      throw;
    }
  }

  ~ServedServer() { stop(); }

  std::string log() const {
    std::ifstream in(log_path_);
    std::stringstream text;
    text << in.rdbuf();
    return text.str();
  }
  const std::string& target() const { return target_; }

 private:
  void start() {
    log_path_ = dir_ + "/server.log";
    std::vector<std::string> args = {GRYPHON_SERVED_SERVER,
                                     "--listen",
                                     "127.0.0.1:0",
                                     "--workers",
                                     "1",
                                     "--metrics-address",
                                     "",
                                     "--drain-delay",
                                     "0",
                                     "--shutdown-timeout",
                                     "2s"};
    std::vector<char*> argv;
    for (auto& arg : args) argv.push_back(arg.data());
    argv.push_back(nullptr);
    posix_spawn_file_actions_t actions;
    posix_spawn_file_actions_init(&actions);
    posix_spawn_file_actions_addopen(&actions, 1, log_path_.c_str(), O_WRONLY | O_CREAT | O_APPEND,
                                     0644);
    posix_spawn_file_actions_adddup2(&actions, 1, 2);
    const int rc = ::posix_spawn(&pid_, argv[0], &actions, nullptr, argv.data(), environ);
    posix_spawn_file_actions_destroy(&actions);
    REQUIRE(rc == 0);

    const auto deadline = std::chrono::steady_clock::now() + 30s;
    while (target_.empty()) {
      const std::string text = log();
      const auto at = text.find(" ready listen=");
      const auto end = at == std::string::npos ? at : text.find_first_of(" \n", at + 14);
      if (end != std::string::npos) {
        target_ = text.substr(at + 14, end - at - 14);
        break;
      }
      int status = 0;
      INFO("server log:\n" << text);
      REQUIRE(::waitpid(pid_, &status, WNOHANG) == 0);  // still running
      REQUIRE(std::chrono::steady_clock::now() < deadline);
      std::this_thread::sleep_for(10ms);
    }
  }

  // TERM (a graceful stop), KILL if that takes more than 10 s; then the directory goes.
  void stop() {
    if (pid_ > 0) {
      ::kill(pid_, SIGTERM);
      int status = 0;
      const auto deadline = std::chrono::steady_clock::now() + 10s;
      while (::waitpid(pid_, &status, WNOHANG) == 0) {
        if (std::chrono::steady_clock::now() > deadline) {
          ::kill(pid_, SIGKILL);
          ::waitpid(pid_, &status, 0);
          break;
        }
        std::this_thread::sleep_for(10ms);
      }
      pid_ = 0;
    }
    std::error_code ignored;
    std::filesystem::remove_all(dir_, ignored);
  }

  std::string dir_;
  std::string log_path_;
  pid_t pid_ = 0;
  std::string target_;
};

ServedServer& server() {
  static ServedServer instance;
  return instance;
}

std::shared_ptr<grpc::Channel> channel() {
  static std::shared_ptr<grpc::Channel> instance =
      grpc::CreateChannel(server().target(), grpc::InsecureChannelCredentials());
  return instance;
}

// A client context with a deadline, so that no test can hang.
std::unique_ptr<grpc::ClientContext> client_context() {
  auto context = std::make_unique<grpc::ClientContext>();
  context->set_deadline(std::chrono::system_clock::now() + 10s);
  return context;
}

helloworld::HelloRequest hello(const std::string& name) {
  helloworld::HelloRequest request;
  request.set_name(name);
  return request;
}

std::string metadata_value(const std::multimap<grpc::string_ref, grpc::string_ref>& metadata,
                           const std::string& key) {
  const auto it = metadata.find(key);
  return it == metadata.end() ? "" : std::string(it->second.data(), it->second.size());
}

}  // namespace

TEST_CASE("a unary call is answered by the generated handler's override") {
  auto stub = helloworld::Greeter::NewStub(channel());
  auto context = client_context();
  helloworld::HelloReply reply;
  const grpc::Status status = stub->SayHello(context.get(), hello("world"), &reply);
  INFO(status.error_message() << "\nserver log:\n" << server().log());
  REQUIRE(status.ok());
  CHECK(reply.message() == "Hello world");
}

TEST_CASE("metadata, peer and deadline pass through the generated handler") {
  auto stub = helloworld::Greeter::NewStub(channel());
  auto context = client_context();
  context->AddMetadata("x-echo", "echo-me");
  helloworld::HelloReply reply;
  const grpc::Status status = stub->SayHello(context.get(), hello("meta"), &reply);
  REQUIRE(status.ok());
  CHECK(reply.echoed_metadata() == "echo-me");
  CHECK(metadata_value(context->GetServerInitialMetadata(), "x-initial") ==
        "sent-before-the-reply");
  CHECK(
      metadata_value(context->GetServerTrailingMetadata(), "x-peer").rfind("ipv4:127.0.0.1:", 0) ==
      0);
  CHECK(metadata_value(context->GetServerTrailingMetadata(), "x-deadline") == "yes");
}

TEST_CASE("a handler's error status reaches the client with its message") {
  auto stub = helloworld::Greeter::NewStub(channel());
  auto context = client_context();
  helloworld::HelloRequest request = hello("errors");
  request.set_fail_with(static_cast<int>(grpc::StatusCode::NOT_FOUND));
  helloworld::HelloReply reply;
  const grpc::Status status = stub->SayHello(context.get(), request, &reply);
  CHECK(status.error_code() == grpc::StatusCode::NOT_FOUND);
  CHECK(status.error_message() == "failing as asked by errors");
}

TEST_CASE("a server-streaming handler sends every message it writes") {
  auto stub = helloworld::Greeter::NewStub(channel());
  auto context = client_context();
  helloworld::HelloRequest request = hello("stream");
  request.set_count(4);
  auto reader = stub->SayHelloStream(context.get(), request);
  std::vector<std::string> messages;
  helloworld::HelloReply reply;
  while (reader->Read(&reply)) messages.push_back(reply.message());
  REQUIRE(reader->Finish().ok());
  CHECK(messages == std::vector<std::string>{"Hello stream #0", "Hello stream #1",
                                             "Hello stream #2", "Hello stream #3"});
}

TEST_CASE("a server-streaming handler's error ends the stream with that status") {
  auto stub = helloworld::Greeter::NewStub(channel());
  auto context = client_context();
  helloworld::HelloRequest request = hello("stream");
  request.set_fail_with(static_cast<int>(grpc::StatusCode::FAILED_PRECONDITION));
  auto reader = stub->SayHelloStream(context.get(), request);
  helloworld::HelloReply reply;
  CHECK_FALSE(reader->Read(&reply));
  CHECK(reader->Finish().error_code() == grpc::StatusCode::FAILED_PRECONDITION);
}

TEST_CASE("a client-streaming handler reads every message the client sends") {
  auto stub = helloworld::Greeter::NewStub(channel());
  auto context = client_context();
  helloworld::HelloReply reply;
  auto writer = stub->SayHelloToAll(context.get(), &reply);
  for (const char* name : {"Ada", "Grace", "Barbara"}) REQUIRE(writer->Write(hello(name)));
  REQUIRE(writer->WritesDone());
  const grpc::Status status = writer->Finish();
  REQUIRE(status.ok());
  CHECK(reply.message() == "Hello Ada, Grace, Barbara");
}

TEST_CASE("a client-streaming handler can fail mid-stream") {
  auto stub = helloworld::Greeter::NewStub(channel());
  auto context = client_context();
  helloworld::HelloReply reply;
  auto writer = stub->SayHelloToAll(context.get(), &reply);
  helloworld::HelloRequest bad = hello("bad");
  bad.set_fail_with(static_cast<int>(grpc::StatusCode::INVALID_ARGUMENT));
  writer->Write(hello("good"));
  writer->Write(bad);
  writer->WritesDone();
  CHECK(writer->Finish().error_code() == grpc::StatusCode::INVALID_ARGUMENT);
}

TEST_CASE("a bidi handler answers each message as it arrives") {
  auto stub = helloworld::Greeter::NewStub(channel());
  auto context = client_context();
  auto stream = stub->Chat(context.get());
  helloworld::HelloReply reply;
  for (const char* name : {"one", "two", "three"}) {
    REQUIRE(stream->Write(hello(name)));
    REQUIRE(stream->Read(&reply));  // the answer comes before the next message is sent
    CHECK(reply.message() == std::string("Hello ") + name);
  }
  REQUIRE(stream->WritesDone());
  CHECK_FALSE(stream->Read(&reply));
  CHECK(stream->Finish().ok());
}

TEST_CASE("a client's cancellation reaches a streaming handler") {
  auto stub = helloworld::Greeter::NewStub(channel());
  auto ask_count = [&] {
    auto context = client_context();
    helloworld::HelloReply reply;
    REQUIRE(stub->SayHello(context.get(), hello("cancellations?"), &reply).ok());
    return std::stoi(reply.message());
  };
  const int before = ask_count();

  auto context = client_context();
  helloworld::HelloRequest endless = hello("endless");
  endless.set_count(-1);
  auto reader = stub->SayHelloStream(context.get(), endless);
  helloworld::HelloReply reply;
  REQUIRE(reader->Read(&reply));
  REQUIRE(reader->Read(&reply));
  context->TryCancel();
  while (reader->Read(&reply)) {
  }
  CHECK(reader->Finish().error_code() == grpc::StatusCode::CANCELLED);

  // The handler notices (Write fails or is_cancelled()), returns, and counts it.
  const auto deadline = std::chrono::steady_clock::now() + 10s;
  while (ask_count() == before && std::chrono::steady_clock::now() < deadline) {
    std::this_thread::sleep_for(10ms);
  }
  CHECK(ask_count() == before + 1);
}

TEST_CASE("a method the handler does not override answers UNIMPLEMENTED") {
  auto stub = acme::billing::v1::Billing::NewStub(channel());
  auto context = client_context();
  google::protobuf::Empty reply;
  const grpc::Status status = stub->Ping(context.get(), google::protobuf::Empty(), &reply);
  CHECK(status.error_code() == grpc::StatusCode::UNIMPLEMENTED);
  CHECK(status.error_message() == "method /acme.billing.v1.Billing/Ping is not implemented");
}

TEST_CASE("the generated client calls the service, blocking and awaited, carrying the call") {
  // A handler's view: a serving call (gryphon::testing::TestCall) with a request id and a
  // deadline, and the generated GreeterClient on a channel to the served server.
  helloworld::GreeterClient greeter(gryphon::connect(server().target()));
  gryphon::testing::TestCall serving;
  serving.client_deadline = std::chrono::system_clock::now() + 10s;
  helloworld::HelloReply reply;
  const grpc::Status blocking = greeter.SayHelloBlocking(
      serving.context(), hello("blocking"), reply, {.metadata = {{"x-echo", "carried"}}});
  INFO(blocking.error_message() << "\nserver log:\n" << server().log());
  REQUIRE(blocking.ok());
  CHECK(reply.message() == "Hello blocking");
  CHECK(reply.echoed_metadata() == "carried");

  helloworld::HelloReply awaited;
  const grpc::Status status =
      serving.run(greeter.SayHello(serving.context(), hello("awaited"), awaited));
  REQUIRE(status.ok());
  CHECK(awaited.message() == "Hello awaited");

  // The server's error status comes back as it is.
  helloworld::HelloRequest failing = hello("failing");
  failing.set_fail_with(static_cast<int>(grpc::StatusCode::FAILED_PRECONDITION));
  helloworld::HelloReply unused;
  const grpc::Status failed = greeter.SayHelloBlocking(serving.context(), failing, unused);
  CHECK(failed.error_code() == grpc::StatusCode::FAILED_PRECONDITION);

  // A serving call whose deadline has passed sends nothing: DEADLINE_EXCEEDED at once.
  gryphon::testing::TestCall late;
  late.client_deadline = std::chrono::system_clock::now() - 1s;
  CHECK(greeter.SayHelloBlocking(late.context(), hello("late"), unused).error_code() ==
        grpc::StatusCode::DEADLINE_EXCEEDED);
}
