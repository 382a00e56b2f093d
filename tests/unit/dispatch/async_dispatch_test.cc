// Dispatcher::run_unary_async (dispatch/async_dispatch.cc): an async handler's call runs as a
// coroutine on the loop it is given, through the same chain as a synchronous call — on_start in
// order, on_finish in reverse with the status the client sees, wire sizes, served counted —, a
// coroutine that throws answers INTERNAL, a cancel wakes what it awaits, and a call already past
// its deadline never starts its handler.
#include "gryphon/async.h"  // first: it includes <utility> before Asio's awaitable header

#include <boost/asio/io_context.hpp>
#include <boost/asio/post.hpp>
#include <boost/asio/steady_timer.hpp>
#include <boost/asio/thread_pool.hpp>
#include <catch2/catch.hpp>
#include <chrono>
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
using std::chrono::milliseconds;

class Recorder final : public Interceptor {
 public:
  Recorder(std::string name, Log& log) : name_(std::move(name)), log_(log) {}
  CallInfo seen;
  grpc::Status on_start(CallInfo&) override {
    log_.push_back(name_ + ".start");
    return grpc::Status::OK;
  }
  void on_finish(CallInfo& call, grpc::Status& status) override {
    log_.push_back(name_ + ".finish " + std::to_string(status.error_code()));
    seen = call;
  }

 private:
  std::string name_;
  Log& log_;
};

// The handlers: free coroutines, as the generated binders call them.
Task<grpc::Status> echo_later(Log& log, Context& context, std::string_view request,
                              std::string& response) {
  log.push_back("handler waits");
  const bool waited = co_await sleep_for(context, milliseconds(5));
  log.push_back(waited ? "handler resumed" : "handler woken");
  if (!waited) co_return grpc::Status(grpc::StatusCode::ABORTED, "woken");
  response = "echo:" + std::string(request);
  co_return grpc::Status::OK;
}

Task<grpc::Status> wait_long(Log& log, Context& context, std::string_view, std::string&) {
  const bool waited = co_await sleep_for(context, std::chrono::hours(1));
  log.push_back(waited ? "handler resumed" : "handler woken");
  co_return grpc::Status::OK;
}

Task<grpc::Status> throws(Log& log, Context& context, std::string_view, std::string&) {
  co_await sleep_for(context, milliseconds(1));
  log.push_back("handler throws");
  throw std::runtime_error("the cache is gone");
}

struct AsyncChain {
  Log log;
  Recorder* recorder = nullptr;
  boost::asio::thread_pool pool{1};
  boost::asio::io_context loop;
  std::unique_ptr<Dispatcher> dispatcher;
  Task<grpc::Status> (*handler)(Log&, Context&, std::string_view, std::string&) = echo_later;

  AsyncChain() {
    std::vector<std::unique_ptr<Interceptor>> interceptors;
    auto a = std::make_unique<Recorder>("a", log);
    recorder = a.get();
    interceptors.push_back(std::move(a));
    MethodDef method{.service = "test.Svc", .method = "Wait", .type = RpcType::kUnary};
    method.async_unary = [this](Context& context, std::string_view request, std::string& out) {
      return handler(log, context, request, out);
    };
    std::vector<Dispatcher::Service> services{
        {ServiceDef{"test.Svc", {std::move(method)}}, false, false}};
    dispatcher = std::make_unique<Dispatcher>(DispatchOptions{}, std::move(services),
                                              std::move(interceptors), pool);
  }

  // Serves one call on `loop` until it is answered; the status and response `done` got.
  std::pair<grpc::Status, std::string> call(testing::TestCall& call, std::string request) {
    const BoundMethod& method = *dispatcher->find("/test.Svc/Wait");
    Admission admission = dispatcher->admit(method);
    REQUIRE(admission);
    REQUIRE(Dispatcher::runs_on_io_thread(method, admission));  // async: on the loop
    std::optional<grpc::Status> status;
    std::string response;
    dispatcher->run_unary_async(method, call, std::move(request), std::move(admission),
                                loop.get_executor(),
                                [&](const grpc::Status& answer, std::string& body) {
                                  status = answer;
                                  response = body;
                                  log.push_back("done");
                                });
    loop.restart();
    loop.run();
    REQUIRE(status.has_value());
    return {*status, response};
  }
};

TEST_CASE("an async unary call passes through the chain as a synchronous one") {
  AsyncChain chain;
  testing::TestCall call;
  const auto [status, response] = chain.call(call, "hi");
  CHECK(status.ok());
  CHECK(response == "echo:hi");
  CHECK(chain.log == Log{"a.start", "handler waits", "handler resumed", "a.finish 0", "done"});
  CHECK(chain.recorder->seen.messages_received == 1);
  CHECK(chain.recorder->seen.bytes_received == 2);
  CHECK(chain.recorder->seen.bytes_sent == 7);
  CHECK(chain.recorder->seen.duration >= milliseconds(5));
  CHECK(chain.dispatcher->stats().served.load() == 1);
  CHECK(chain.dispatcher->stats().in_flight.load() == 0);  // the admission went with the call
}

TEST_CASE("an async handler that throws answers INTERNAL, and the chain sees it") {
  AsyncChain chain;
  chain.handler = throws;
  testing::TestCall call;
  const auto [status, response] = chain.call(call, "");
  CHECK(status.error_code() == grpc::StatusCode::INTERNAL);
  CHECK(status.error_message() == "internal error");
  CHECK(chain.log == Log{"a.start", "handler throws", "a.finish 13", "done"});
}

TEST_CASE("a cancel wakes what an async handler awaits, and the chain sees CANCELLED") {
  AsyncChain chain;
  chain.handler = wait_long;
  testing::TestCall call;
  boost::asio::steady_timer client(chain.loop, milliseconds(10));
  client.async_wait([&](const boost::system::error_code&) { call.cancel(); });
  const auto [status, response] = chain.call(call, "");
  CHECK(status.error_code() == grpc::StatusCode::CANCELLED);  // what the client sees
  CHECK(chain.log == Log{"a.start", "handler woken", "a.finish 1", "done"});
}

TEST_CASE("an async call already past its deadline is answered without its handler") {
  AsyncChain chain;
  testing::TestCall call;
  call.client_deadline = std::chrono::system_clock::now() - milliseconds(1);
  const auto [status, response] = chain.call(call, "hi");
  CHECK(status.error_code() == grpc::StatusCode::DEADLINE_EXCEEDED);
  CHECK(status.error_message() == "deadline exceeded before the handler started");
  CHECK(chain.log == Log{"a.start", "a.finish 4", "done"});
}

}  // namespace
}  // namespace gryphon::internal
