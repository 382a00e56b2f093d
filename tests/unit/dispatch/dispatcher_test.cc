// Dispatcher's admission (dispatch/dispatcher.h): which calls take which limit, what a refusal
// says, and that an Admission gives back what it holds however it ends.
#include "dispatch/dispatcher.h"

#include <boost/asio/thread_pool.hpp>
#include <catch2/catch.hpp>
#include <vector>

namespace gryphon::internal {
namespace {

MethodDef method(const std::string& service, const std::string& name, RpcType type) {
  MethodDef def{service, name, type, {}, {}};
  def.unary = [](Context&, std::string_view, std::string&) { return grpc::Status::OK; };
  def.stream = [](Context&, RawStream&) { return grpc::Status::OK; };
  return def;
}

// A service with a unary and a streaming method, and the built-in health service's two.
struct World {
  boost::asio::thread_pool pool{1};
  Dispatcher dispatcher;
  const Method& unary;
  const Method& stream;
  const Method& check;
  const Method& watch;

  explicit World(DispatchOptions options)
      : dispatcher(options, services(), {}, pool),
        unary(*dispatcher.find("/test.Svc/Unary")),
        stream(*dispatcher.find("/test.Svc/Stream")),
        check(*dispatcher.find("/grpc.health.v1.Health/Check")),
        watch(*dispatcher.find("/grpc.health.v1.Health/Watch")) {}

  static std::vector<Dispatcher::Service> services() {
    ServiceDef user{"test.Svc",
                    {method("test.Svc", "Unary", RpcType::kUnary),
                     method("test.Svc", "Stream", RpcType::kBidiStreaming)}};
    ServiceDef health{"grpc.health.v1.Health",
                      {method("grpc.health.v1.Health", "Check", RpcType::kUnary),
                       method("grpc.health.v1.Health", "Watch", RpcType::kServerStreaming)}};
    return {{user, false, false}, {health, true, true}};
  }
};

DispatchOptions limits(int rpcs, int streams, int builtin_streams) {
  DispatchOptions options;
  options.max_concurrent_rpcs = rpcs;
  options.max_streaming_calls = streams;
  options.max_builtin_streams = builtin_streams;
  return options;
}

TEST_CASE(
    "a call past --max-concurrent-rpcs is refused with RESOURCE_EXHAUSTED naming the option") {
  World world(limits(2, 8, 2));
  Admission first = world.dispatcher.admit(world.unary);
  Admission second = world.dispatcher.admit(world.unary);
  Admission third = world.dispatcher.admit(world.unary);
  CHECK(first);
  CHECK(second);
  REQUIRE_FALSE(third);
  CHECK(third.refusal().error_code() == grpc::StatusCode::RESOURCE_EXHAUSTED);
  CHECK(third.refusal().error_message().find("--max-concurrent-rpcs") != std::string::npos);
  CHECK(world.dispatcher.stats().rejected.load() == 1);
  CHECK(world.dispatcher.stats().in_flight.load() == 2);
}

TEST_CASE("health Check is admitted when every slot is taken") {
  World world(limits(1, 8, 2));
  Admission taken = world.dispatcher.admit(world.unary);
  REQUIRE(taken);
  REQUIRE_FALSE(world.dispatcher.admit(world.unary));
  for (int i = 0; i < 100; ++i) CHECK(world.dispatcher.admit(world.check));
  CHECK(world.dispatcher.stats().served.load() == 100);  // each Check released at once
}

TEST_CASE("streams take at most --max-streaming-calls threads, leaving unary calls theirs") {
  World world(limits(100, 3, 2));
  std::vector<Admission> streams;
  for (int i = 0; i < 3; ++i) streams.push_back(world.dispatcher.admit(world.stream));
  for (const auto& stream : streams) CHECK(stream);
  Admission fourth = world.dispatcher.admit(world.stream);
  REQUIRE_FALSE(fourth);
  CHECK(fourth.refusal().error_message().find("--max-streaming-calls") != std::string::npos);
  CHECK(world.dispatcher.admit(world.unary));  // unary calls are not held back by streams
  streams.pop_back();                          // one stream ends: its thread is free again
  CHECK(world.dispatcher.admit(world.stream));
}

TEST_CASE("built-in streams take at most their own share of the streaming threads") {
  World world(limits(2, 4, 2));
  Admission first = world.dispatcher.admit(world.watch);
  Admission second = world.dispatcher.admit(world.watch);
  Admission third = world.dispatcher.admit(world.watch);
  CHECK(first);
  CHECK(second);
  REQUIRE_FALSE(third);
  CHECK(third.refusal().error_code() == grpc::StatusCode::RESOURCE_EXHAUSTED);
  // The watches hold two of the four streaming threads and no --max-concurrent-rpcs slot: user
  // streams get the other two threads and both slots.
  Admission user_a = world.dispatcher.admit(world.stream);
  Admission user_b = world.dispatcher.admit(world.stream);
  CHECK(user_a);
  CHECK(user_b);
  CHECK_FALSE(world.dispatcher.admit(world.stream));
  CHECK(world.dispatcher.stats().in_flight.load() == 4);
}

TEST_CASE("an Admission gives back what it holds once, moved or reset") {
  World world(limits(1, 1, 1));
  Admission moved;
  {
    Admission admission = world.dispatcher.admit(world.stream);
    REQUIRE(admission);
    moved = std::move(admission);
    CHECK_FALSE(admission);  // NOLINT(bugprone-use-after-move): moved-from is empty
  }
  CHECK(world.dispatcher.stats().in_flight.load() == 1);  // the move kept it
  CHECK_FALSE(world.dispatcher.admit(world.stream));
  moved.reset();
  moved.reset();  // a second reset gives back nothing more
  CHECK(world.dispatcher.stats().in_flight.load() == 0);
  CHECK(world.dispatcher.stats().served.load() == 1);
  CHECK(world.dispatcher.admit(world.stream));
  CHECK(world.dispatcher.admit(world.unary));
}

TEST_CASE("a refunded Admission frees its places without counting the call as served") {
  World world(limits(1, 1, 1));
  Admission admission = world.dispatcher.admit(world.stream);
  REQUIRE(admission);
  admission.refund();
  CHECK_FALSE(admission);
  CHECK(world.dispatcher.stats().in_flight.load() == 0);
  CHECK(world.dispatcher.stats().served.load() == 0);
  CHECK(world.dispatcher.stats().refunded.load() == 1);
  CHECK(world.dispatcher.admit(world.stream));  // its thread and slot are free again
}

}  // namespace
}  // namespace gryphon::internal
