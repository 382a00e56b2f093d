// The interceptor chain's contract (gryphon/interceptor.h, run by dispatch/dispatcher.cc), through
// gryphon/testing.h's TestCall as the call: on_start in registration order, on_finish in reverse
// for every interceptor whose on_start ran, a rejection that skips the handler and the later
// interceptors, status replacement, skip(), built-in services outside the chain, a throwing
// handler, the counts in CallInfo (unary and streaming), a refused call answered through the chain,
// a passed deadline or a client's cancel winning over the handler's status, and what Context
// tells the handler (deadline, default deadline per kind of call, draining).
#include <boost/asio/thread_pool.hpp>
#include <catch2/catch.hpp>
#include <functional>
#include <memory>
#include <optional>
#include <stdexcept>
#include <string>
#include <vector>

#include "dispatch/dispatcher.h"
#include "gryphon/interceptor.h"
#include "gryphon/testing.h"

namespace gryphon::internal {
namespace {

using Log = std::vector<std::string>;

// Writes "<name>.start" and "<name>.finish <code>" to a shared log; optionally rejects in
// on_start, replaces the status in on_finish, or skips one method.
class Recorder final : public Interceptor {
 public:
  Recorder(std::string name, Log& log) : name_(std::move(name)), log_(log) {}
  std::optional<grpc::Status> reject;
  std::optional<grpc::Status> replace;
  std::string skipped_method;
  CallInfo seen;  // as on_finish saw it

  bool skip(const MethodDef& method) const override { return method.method == skipped_method; }
  grpc::Status on_start(CallInfo&) override {
    log_.push_back(name_ + ".start");
    return reject.value_or(grpc::Status::OK);
  }
  void on_finish(CallInfo& call, grpc::Status& status) override {
    log_.push_back(name_ + ".finish " + std::to_string(status.error_code()));
    seen = call;
    if (replace) status = *replace;
  }

 private:
  std::string name_;
  Log& log_;
};

struct Chain {
  Log log;
  Recorder* first = nullptr;
  Recorder* second = nullptr;
  boost::asio::thread_pool pool{1};
  std::unique_ptr<Dispatcher> dispatcher;
  // The streaming handler: echoes every message back.
  std::function<grpc::Status(Context&, RawStream&)> stream_handler = [this](Context&,
                                                                            RawStream& stream) {
    log.push_back("stream handler");
    for (std::string message; stream.read(message);) stream.write("echo:" + message);
    return grpc::Status::OK;
  };
  std::function<grpc::Status(Context&, std::string_view, std::string&)> handler =
      [this](Context&, std::string_view request, std::string& response) {
        log.push_back("handler");
        response = "echo:" + std::string(request);
        return grpc::Status::OK;
      };

  // `a_skips`: the method interceptor a leaves out (skip() is asked once, as the chain is built).
  explicit Chain(DispatchOptions options = {}, std::string a_skips = "") {
    auto a = std::make_unique<Recorder>("a", log);
    auto b = std::make_unique<Recorder>("b", log);
    a->skipped_method = std::move(a_skips);
    first = a.get();
    second = b.get();
    std::vector<std::unique_ptr<Interceptor>> interceptors;
    interceptors.push_back(std::move(a));
    interceptors.push_back(std::move(b));
    MethodDef echo{.service = "test.Svc", .method = "Echo", .type = RpcType::kUnary};
    echo.unary = [this](Context& c, std::string_view r, std::string& s) {
      return handler(c, r, s);
    };
    MethodDef other = echo;
    other.method = "Other";
    MethodDef chat{.service = "test.Svc", .method = "Chat", .type = RpcType::kBidiStreaming};
    chat.stream = [this](Context& c, RawStream& s) { return stream_handler(c, s); };
    MethodDef check{.service = "grpc.health.v1.Health", .method = "Check", .type = RpcType::kUnary};
    check.unary = echo.unary;
    MethodDef watch{
        .service = "grpc.health.v1.Health", .method = "Watch", .type = RpcType::kServerStreaming};
    watch.stream = chat.stream;
    std::vector<Dispatcher::Service> services{
        {ServiceDef{"test.Svc", {echo, other, chat}}, false, false},
        {ServiceDef{"grpc.health.v1.Health", {check, watch}}, true, true}};
    dispatcher =
        std::make_unique<Dispatcher>(options, std::move(services), std::move(interceptors), pool);
  }

  grpc::Status call(const std::string& path, testing::TestCall& call, std::string request,
                    std::string* response = nullptr) {
    const BoundMethod& method = *dispatcher->find(path);
    const Admission admission = dispatcher->admit(method);
    std::string out;
    grpc::Status status = dispatcher->run_unary(method, call, request, out, admission);
    if (response != nullptr) *response = out;
    return status;
  }

  grpc::Status stream(const std::string& path, testing::TestCall& call, RawStream& stream) {
    const BoundMethod& method = *dispatcher->find(path);
    const Admission admission = dispatcher->admit(method);
    return dispatcher->run_stream(method, call, stream, admission);
  }
};

// A client's side of a stream: the messages it sends, and what the handler wrote.
class Script final : public RawStream {
 public:
  explicit Script(std::vector<std::string> sends) : sends_(std::move(sends)) {}
  bool read(std::string& message) override {
    if (next_ == sends_.size()) return false;
    message = sends_[next_++];
    return true;
  }
  bool write(std::string_view message, const WriteOptions&) override {
    written.emplace_back(message);
    return true;
  }
  bool send_initial_metadata() override { return true; }
  std::vector<std::string> written;

 private:
  std::vector<std::string> sends_;
  std::size_t next_ = 0;
};

TEST_CASE("on_start runs in registration order, on_finish in reverse, the handler between") {
  Chain chain;
  testing::TestCall call;
  std::string response;
  REQUIRE(chain.call("/test.Svc/Echo", call, "hi", &response).ok());
  CHECK(response == "echo:hi");
  CHECK(chain.log == Log{"a.start", "b.start", "handler", "b.finish 0", "a.finish 0"});
}

TEST_CASE(
    "an on_start rejection skips the handler and later interceptors, and earlier ones finish") {
  Chain chain;
  chain.second->reject = grpc::Status(grpc::StatusCode::PERMISSION_DENIED, "no tenant");
  testing::TestCall call;
  const grpc::Status status = chain.call("/test.Svc/Echo", call, "hi");
  CHECK(status.error_code() == grpc::StatusCode::PERMISSION_DENIED);
  CHECK(status.error_message() == "no tenant");
  CHECK(chain.log == Log{"a.start", "b.start", "b.finish 7", "a.finish 7"});

  Chain early;
  early.first->reject = grpc::Status(grpc::StatusCode::UNAUTHENTICATED, "who?");
  testing::TestCall again;
  CHECK(early.call("/test.Svc/Echo", again, "hi").error_code() ==
        grpc::StatusCode::UNAUTHENTICATED);
  CHECK(early.log == Log{"a.start", "a.finish 16"});
}

TEST_CASE("on_finish may replace the status, and interceptors registered earlier see the new one") {
  Chain chain;
  chain.second->replace = grpc::Status(grpc::StatusCode::UNAVAILABLE, "replaced");
  testing::TestCall call;
  const grpc::Status status = chain.call("/test.Svc/Echo", call, "hi");
  CHECK(status.error_code() == grpc::StatusCode::UNAVAILABLE);
  CHECK(status.error_message() == "replaced");
  CHECK(chain.log == Log{"a.start", "b.start", "handler", "b.finish 0", "a.finish 14"});
}

TEST_CASE("skip() leaves one method out of one interceptor only") {
  Chain chain({}, "Other");
  testing::TestCall call;
  REQUIRE(chain.call("/test.Svc/Other", call, "x").ok());
  CHECK(chain.log == Log{"b.start", "handler", "b.finish 0"});
  chain.log.clear();
  testing::TestCall echo;
  REQUIRE(chain.call("/test.Svc/Echo", echo, "x").ok());
  CHECK(chain.log == Log{"a.start", "b.start", "handler", "b.finish 0", "a.finish 0"});
}

TEST_CASE("built-in services do not pass through the chain") {
  Chain chain;
  testing::TestCall call;
  REQUIRE(chain.call("/grpc.health.v1.Health/Check", call, "").ok());
  CHECK(chain.log == Log{"handler"});
}

TEST_CASE("a handler that throws answers INTERNAL, and every interceptor sees it") {
  Chain chain;
  chain.handler = [](Context&, std::string_view, std::string&) -> grpc::Status {
    throw std::runtime_error("database on fire");
  };
  testing::TestCall call;
  const grpc::Status status = chain.call("/test.Svc/Echo", call, "hi");
  CHECK(status.error_code() == grpc::StatusCode::INTERNAL);
  CHECK(status.error_message() == "internal error");  // the exception's text stays in the log
  CHECK(chain.log == Log{"a.start", "b.start", "b.finish 13", "a.finish 13"});
}

TEST_CASE("on_finish sees the method, the message counts, the sizes and the duration") {
  Chain chain;
  chain.handler = [](Context&, std::string_view, std::string& response) {
    response = std::string(10, 'r');
    return grpc::Status::OK;
  };
  testing::TestCall call;
  REQUIRE(chain.call("/test.Svc/Echo", call, "four").ok());
  const CallInfo& seen = chain.first->seen;
  REQUIRE(seen.method != nullptr);
  CHECK(seen.method->path() == "/test.Svc/Echo");
  CHECK(seen.messages_received == 1);
  CHECK(seen.bytes_received == 4);
  CHECK(seen.messages_sent == 1);
  CHECK(seen.bytes_sent == 10);
  CHECK(seen.duration.count() > 0);
}

TEST_CASE("the handler's Context: the client's deadline, else --default-deadline, and draining") {
  DispatchOptions options;
  options.default_deadline = std::chrono::milliseconds(1500);
  Chain chain(options);
  std::chrono::system_clock::time_point deadline;
  bool draining = true;
  chain.handler = [&](Context& context, std::string_view, std::string&) {
    deadline = context.deadline();
    draining = context.draining();
    return grpc::Status::OK;
  };
  const auto before = std::chrono::system_clock::now();
  testing::TestCall without;
  REQUIRE(chain.call("/test.Svc/Echo", without, "").ok());
  CHECK(deadline >= before + std::chrono::milliseconds(1500));
  CHECK(deadline <= std::chrono::system_clock::now() + std::chrono::milliseconds(1500));
  CHECK_FALSE(draining);

  testing::TestCall with;
  with.client_deadline = before + std::chrono::seconds(7);
  chain.dispatcher->set_draining();
  REQUIRE(chain.call("/test.Svc/Echo", with, "").ok());
  CHECK(deadline == before + std::chrono::seconds(7));
  CHECK(draining);
}

TEST_CASE("a stream's messages and bytes, both ways, are counted for on_finish") {
  Chain chain;
  testing::TestCall call;
  Script client({"one", "three"});
  REQUIRE(chain.stream("/test.Svc/Chat", call, client).ok());
  CHECK(client.written == std::vector<std::string>{"echo:one", "echo:three"});
  const CallInfo& seen = chain.first->seen;
  CHECK(seen.messages_received == 2);
  CHECK(seen.bytes_received == 8);
  CHECK(seen.messages_sent == 2);
  CHECK(seen.bytes_sent == 18);
  CHECK(chain.log == Log{"a.start", "b.start", "stream handler", "b.finish 0", "a.finish 0"});
}

TEST_CASE("a call refused for overload is answered RESOURCE_EXHAUSTED through the chain") {
  DispatchOptions options;
  options.max_concurrent_rpcs = 1;
  Chain chain(options);
  const Admission held = chain.dispatcher->admit(*chain.dispatcher->find("/test.Svc/Echo"));
  REQUIRE(held);
  testing::TestCall call;
  const grpc::Status status = chain.call("/test.Svc/Echo", call, "hi");
  CHECK(status.error_code() == grpc::StatusCode::RESOURCE_EXHAUSTED);
  CHECK(status.error_message().find("--max-concurrent-rpcs") != std::string::npos);
  // The interceptors see it (access log, metrics); the handler never runs.
  CHECK(chain.log == Log{"a.start", "b.start", "b.finish 8", "a.finish 8"});
}

TEST_CASE(
    "a deadline that passes while the handler runs, or a client's cancel, is what the chain "
    "and the client see") {
  Chain chain;
  testing::TestCall late;
  late.client_deadline = std::chrono::system_clock::now() + std::chrono::hours(1);
  chain.handler = [&](Context&, std::string_view, std::string&) {
    late.client_deadline = std::chrono::system_clock::now() - std::chrono::milliseconds(1);
    return grpc::Status::OK;
  };
  CHECK(chain.call("/test.Svc/Echo", late, "").error_code() == grpc::StatusCode::DEADLINE_EXCEEDED);
  chain.handler = [](Context&, std::string_view, std::string&) { return grpc::Status::OK; };
  testing::TestCall cancelled;
  cancelled.client_cancelled = true;
  CHECK(chain.call("/test.Svc/Echo", cancelled, "").error_code() == grpc::StatusCode::CANCELLED);
  // The handler answered OK both times; every interceptor saw what the client sees.
  CHECK(chain.log == Log{"a.start", "b.start", "b.finish 4", "a.finish 4", "a.start", "b.start",
                         "b.finish 1", "a.finish 1"});
}

TEST_CASE("a call whose deadline passed before it started is answered without its handler") {
  Chain chain;
  const auto past = std::chrono::system_clock::now() - std::chrono::milliseconds(1);
  testing::TestCall unary;
  unary.client_deadline = past;
  const grpc::Status status = chain.call("/test.Svc/Echo", unary, "hi");
  CHECK(status.error_code() == grpc::StatusCode::DEADLINE_EXCEEDED);
  CHECK(status.error_message() == "deadline exceeded before the handler started");
  testing::TestCall stream;
  stream.client_deadline = past;
  Script script({"a"});
  CHECK(chain.stream("/test.Svc/Chat", stream, script).error_code() ==
        grpc::StatusCode::DEADLINE_EXCEEDED);
  CHECK(script.written.empty());
  // Neither handler ran; the interceptors saw (logged, counted) both calls.
  CHECK(chain.log == Log{"a.start", "b.start", "b.finish 4", "a.finish 4", "a.start", "b.start",
                         "b.finish 4", "a.finish 4"});
  CHECK(chain.dispatcher->stats().served.load() == 2);
}

TEST_CASE(
    "a call the transport ended itself ends with the transport's status, whatever the "
    "handler returned") {
  Chain chain;
  testing::TestCall call;
  const grpc::Status timed_out(grpc::StatusCode::CANCELLED, "a write timed out");
  chain.stream_handler = [&](Context&, RawStream&) {
    call.ended_by_server = timed_out;  // as a stream write past --stream-write-timeout does
    return grpc::Status::OK;
  };
  Script script({});
  const grpc::Status status = chain.stream("/test.Svc/Chat", call, script);
  CHECK(status.error_code() == grpc::StatusCode::CANCELLED);
  CHECK(status.error_message() == "a write timed out");
  CHECK(chain.log == Log{"a.start", "b.start", "b.finish 1", "a.finish 1"});
}

TEST_CASE("a default deadline is for unary calls, the default stream deadline for user streams") {
  DispatchOptions options;
  options.default_deadline = std::chrono::milliseconds(1500);
  options.default_stream_deadline = std::chrono::milliseconds(60000);
  Chain chain(options);
  std::chrono::system_clock::time_point deadline;
  chain.stream_handler = [&](Context& context, RawStream&) {
    deadline = context.deadline();
    return grpc::Status::OK;
  };
  const auto before = std::chrono::system_clock::now();
  testing::TestCall user;
  Script quiet({});
  REQUIRE(chain.stream("/test.Svc/Chat", user, quiet).ok());
  CHECK(deadline >= before + std::chrono::seconds(60));
  CHECK(deadline <= std::chrono::system_clock::now() + std::chrono::seconds(60));
  // A built-in stream (health Watch) has neither: it may watch for as long as its client likes.
  testing::TestCall watch;
  REQUIRE(chain.stream("/grpc.health.v1.Health/Watch", watch, quiet).ok());
  CHECK(deadline == std::chrono::system_clock::time_point::max());
}

}  // namespace
}  // namespace gryphon::internal
