// Dispatcher's admission (dispatch/dispatcher.h): which calls take which limit, what a refusal
// says, that an Admission gives back what it holds however it ends, when a call counts as
// served, where its handler runs, and the bounded rows of unknown methods.
#include "dispatch/dispatcher.h"

#include <boost/asio/thread_pool.hpp>
#include <catch2/catch.hpp>
#include <set>
#include <string>
#include <vector>

#include "gryphon/testing.h"
#include "observability/rpc_metrics_store.h"

namespace gryphon::internal {
namespace {

MethodDef method(const std::string& service, const std::string& name, RpcType type) {
  MethodDef def{.service = service, .method = name, .type = type};
  def.unary = [](Context&, std::string_view, std::string&) { return grpc::Status::OK; };
  def.stream = [](Context&, RawStream&) { return grpc::Status::OK; };
  return def;
}

// A streaming method of an async handler (as health Watch and reflection are).
MethodDef async_stream_method(const std::string& service, const std::string& name) {
  MethodDef def{.service = service, .method = name, .type = RpcType::kServerStreaming};
  def.async_stream = [](Context&, detail::AsyncStream&) -> Task<grpc::Status> {
    co_return grpc::Status::OK;
  };
  return def;
}

// A service with a unary and a streaming method, and the built-in health service's two.
struct World {
  boost::asio::thread_pool pool{1};
  Dispatcher dispatcher;
  const BoundMethod& unary;
  const BoundMethod& stream;
  const BoundMethod& check;
  const BoundMethod& watch;
  const BoundMethod& async_watch;

  explicit World(DispatchOptions options)
      : dispatcher(options, services(), {}, pool),
        unary(*dispatcher.find("/test.Svc/Unary")),
        stream(*dispatcher.find("/test.Svc/Stream")),
        check(*dispatcher.find("/grpc.health.v1.Health/Check")),
        watch(*dispatcher.find("/grpc.health.v1.Health/Watch")),
        async_watch(*dispatcher.find("/grpc.health.v1.Health/AsyncWatch")) {}

  static std::vector<Dispatcher::Service> services() {
    ServiceDef user{"test.Svc",
                    {method("test.Svc", "Unary", RpcType::kUnary),
                     method("test.Svc", "Stream", RpcType::kBidiStreaming)}};
    ServiceDef health{"grpc.health.v1.Health",
                      {method("grpc.health.v1.Health", "Check", RpcType::kUnary),
                       method("grpc.health.v1.Health", "Watch", RpcType::kServerStreaming),
                       async_stream_method("grpc.health.v1.Health", "AsyncWatch")}};
    ServiceDef fast{"test.Fast", {method("test.Fast", "Now", RpcType::kUnary)}};
    return {{user, false, false}, {health, true, true}, {fast, true, false}};
  }

  // Admits and runs one unary call to `method` as a transport does; the Admission comes back.
  Admission run(const BoundMethod& method) {
    Admission admission = dispatcher.admit(method);
    testing::TestCall call;
    std::string response;
    dispatcher.run_unary(method, call, "", response, admission);
    return admission;
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
  for (int i = 0; i < 100; ++i) CHECK(world.run(world.check));
  CHECK(world.dispatcher.stats().served.load() == 100);
  CHECK(world.dispatcher.stats().in_flight.load() == 1);  // each Check released once answered
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

TEST_CASE("built-in async streams take no thread and no slot, up to their own budget") {
  World world(limits(1, 1, 3));
  std::vector<Admission> watches;
  for (int i = 0; i < 3; ++i) watches.push_back(world.dispatcher.admit(world.async_watch));
  for (const auto& watch : watches) CHECK(watch);
  Admission fourth = world.dispatcher.admit(world.async_watch);
  REQUIRE_FALSE(fourth);
  CHECK(fourth.refusal().error_code() == grpc::StatusCode::RESOURCE_EXHAUSTED);
  CHECK(fourth.refusal().error_message().find("--max-concurrent-rpcs") != std::string::npos);
  // The only slot and the only streaming thread are still there for the application.
  Admission user = world.dispatcher.admit(world.stream);
  CHECK(user);
  CHECK(Dispatcher::runs_on_io_thread(world.async_watch, watches[0]));
  watches.pop_back();  // one watch ends: its place is free again
  CHECK(world.dispatcher.admit(world.async_watch));
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
  CHECK(world.dispatcher.stats().served.load() == 0);  // it never ran
  CHECK(world.dispatcher.stats().refunded.load() == 0);
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

TEST_CASE("a call counts as served when dispatch answers it, not when the transport lets go") {
  World world(limits(4, 4, 2));
  Admission admission = world.run(world.unary);
  // The transport still holds the Admission (gRPC C++ until the status is on the wire): the
  // call is answered, so both transports report it served at this same moment.
  CHECK(world.dispatcher.stats().served.load() == 1);
  CHECK(world.dispatcher.stats().in_flight.load() == 1);
  admission.reset();
  CHECK(world.dispatcher.stats().served.load() == 1);
  CHECK(world.dispatcher.stats().in_flight.load() == 0);
  // A refused call is answered too, but it was never admitted: rejected, not served.
  World full(limits(1, 4, 2));
  Admission held = full.dispatcher.admit(full.unary);
  Admission refused = full.run(full.unary);
  CHECK_FALSE(refused);
  CHECK(full.dispatcher.stats().served.load() == 0);
  CHECK(full.dispatcher.stats().rejected.load() == 1);
}

TEST_CASE("a handler runs on the I/O thread when refused or registered inline, else on the pool") {
  World world(limits(3, 1, 1));
  const BoundMethod& inline_unary = *world.dispatcher.find("/test.Fast/Now");
  REQUIRE(inline_unary.inline_handler);
  Admission unary = world.dispatcher.admit(inline_unary);
  CHECK(Dispatcher::runs_on_io_thread(inline_unary, unary));
  Admission pool_unary = world.dispatcher.admit(world.unary);
  REQUIRE(pool_unary);
  CHECK_FALSE(Dispatcher::runs_on_io_thread(world.unary, pool_unary));  // admitted, not inline
  Admission stream = world.dispatcher.admit(world.stream);
  REQUIRE(stream);
  CHECK_FALSE(Dispatcher::runs_on_io_thread(world.stream, stream));  // streams block: the pool
  Admission refused = world.dispatcher.admit(world.stream);
  REQUIRE_FALSE(refused);
  CHECK(Dispatcher::runs_on_io_thread(world.stream, refused));  // its answer needs no handler
}

TEST_CASE("unknown methods get a row each up to the metrics' bound, then share unknown/unknown") {
  World world(limits(4, 4, 2));
  BoundMethod& first = world.dispatcher.unknown_method("/shop.Cart/Add");
  CHECK(&world.dispatcher.unknown_method("/shop.Cart/Add") == &first);  // the same row again
  CHECK(first.def.service == "shop.Cart");
  CHECK(first.def.method == "Add");
  CHECK(first.def.type == RpcType::kUnknown);
  std::set<const BoundMethod*> rows{&first};
  for (std::size_t i = 0; i < 3 * kUnknownMethodRows; ++i)
    rows.insert(&world.dispatcher.unknown_method("/probe.S" + std::to_string(i) + "/M"));
  // kUnknownMethodRows rows in all, the last of them the shared one.
  CHECK(rows.size() == kUnknownMethodRows);
  BoundMethod& shared = world.dispatcher.unknown_method("/probe.Another/M");
  CHECK(shared.def.service == "unknown");
  CHECK(shared.def.method == "unknown");
  CHECK(rows.count(&shared) == 1);
  // A path that is not /service/method never gets a row of its own.
  CHECK(&world.dispatcher.unknown_method("not a path") == &shared);
}

}  // namespace
}  // namespace gryphon::internal
