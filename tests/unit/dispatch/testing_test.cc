// gryphon/testing.h as a service's unit tests use it: a handler called directly with a TestCall's
// Context sees the metadata, deadline, cancel and draining the test sets, and what it sends back
// (metadata, compression, stream messages and their options) is recorded.
#include "gryphon/testing.h"

#include <boost/asio/redirect_error.hpp>
#include <boost/asio/steady_timer.hpp>
#include <boost/asio/this_coro.hpp>
#include <catch2/catch.hpp>
#include <chrono>
#include <stdexcept>
#include <string>
#include <vector>

namespace {

using gryphon::Context;
using gryphon::WriteOptions;

// What a generated handler's methods look like, with strings for messages.
grpc::Status get_item(Context& context, const std::string& request, std::string& response) {
  if (context.is_cancelled()) return grpc::Status(grpc::StatusCode::CANCELLED, "gone");
  const auto tenant = context.find_metadata("x-tenant");
  if (!tenant) return grpc::Status(grpc::StatusCode::UNAUTHENTICATED, "no tenant");
  context.add_initial_metadata("x-shard", "7");
  context.add_trailing_metadata("x-served-by", std::string(*tenant));
  context.set_compression(gryphon::Compression::kGzip);
  response = request + "@" + std::string(*tenant) + (context.draining() ? " (draining)" : "");
  return grpc::Status::OK;
}

grpc::Status list_items(Context& context, gryphon::ServerWriter<std::string>& writer) {
  writer.SendInitialMetadata();
  for (const auto* part : {"a", "b"}) writer.Write(part, {.buffer_hint = true});
  writer.Write(context.peer(), {.last_message = true});
  return grpc::Status::OK;
}

grpc::Status sum(Context&, gryphon::ServerReader<std::string>& reader, std::string& response) {
  std::string message;
  std::size_t total = 0;
  while (reader.Read(&message)) total += message.size();
  response = std::to_string(total);
  return grpc::Status::OK;
}

grpc::Status chat(Context&, gryphon::ServerReaderWriter<std::string, std::string>& stream) {
  std::string message;
  while (stream.Read(&message)) stream.Write("re: " + message);
  return grpc::Status::OK;
}

// An async handler's method: waits, then answers (a free coroutine, as generated code calls one).
gryphon::Task<grpc::Status> wait_for_item(Context& context, std::chrono::milliseconds wait,
                                          std::string& response) {
  const bool waited = co_await gryphon::sleep_for(context, wait);
  if (!waited) co_return grpc::Status(grpc::StatusCode::CANCELLED, "gone while waiting");
  response = "ready after " + std::to_string(wait.count()) + "ms";
  co_return grpc::Status::OK;
}

// The README's recipe: a foreign Asio operation (a timer standing in for a socket read) that the
// call's end cancels through when_cancelled.
gryphon::Task<grpc::Status> read_upstream(Context& context, std::string& response) {
  boost::asio::steady_timer upstream(co_await boost::asio::this_coro::executor,
                                     std::chrono::hours(1));
  const auto guard = gryphon::when_cancelled(context, [&upstream] { upstream.cancel(); });
  boost::system::error_code error;
  co_await upstream.async_wait(boost::asio::redirect_error(gryphon::use_task, error));
  if (error == boost::asio::error::operation_aborted)
    co_return grpc::Status(grpc::StatusCode::CANCELLED, "the call ended while it read");
  response = "read";
  co_return grpc::Status::OK;
}

gryphon::Task<grpc::Status> broken(Context& context) {
  co_await gryphon::sleep_for(context, std::chrono::milliseconds(1));
  throw std::runtime_error("the cache is gone");
}

TEST_CASE("TestCall runs an async handler's coroutine: its wait, a client's cancel, a deadline") {
  using std::chrono::milliseconds;
  gryphon::testing::TestCall call;
  std::string response;
  CHECK(call.run(wait_for_item(call.context(), milliseconds(5), response)).ok());
  CHECK(response == "ready after 5ms");

  // A client that cancels while the handler waits an hour: the wait ends with false at once.
  gryphon::testing::TestCall cancelled;
  cancelled.cancel_after = milliseconds(20);
  const auto started = std::chrono::steady_clock::now();
  const grpc::Status gone =
      cancelled.run(wait_for_item(cancelled.context(), std::chrono::hours(1), response));
  CHECK(gone.error_code() == grpc::StatusCode::CANCELLED);
  CHECK(cancelled.context().cancelled_by_client());
  CHECK(std::chrono::steady_clock::now() - started < std::chrono::minutes(1));

  // A deadline before the wait's end ends it then.
  gryphon::testing::TestCall late;
  late.client_deadline = std::chrono::system_clock::now() + milliseconds(20);
  CHECK(late.run(wait_for_item(late.context(), std::chrono::hours(1), response)).error_code() ==
        grpc::StatusCode::CANCELLED);
  CHECK(late.context().deadline_passed());
}

TEST_CASE(
    "when_cancelled ends a foreign Asio operation when the client cancels or the deadline "
    "passes") {
  using std::chrono::milliseconds;
  std::string response;
  gryphon::testing::TestCall cancelled;
  cancelled.cancel_after = milliseconds(20);
  const grpc::Status gone = cancelled.run(read_upstream(cancelled.context(), response));
  CHECK(gone.error_code() == grpc::StatusCode::CANCELLED);
  CHECK(gone.error_message() == "the call ended while it read");
  gryphon::testing::TestCall late;
  late.client_deadline = std::chrono::system_clock::now() + milliseconds(20);
  CHECK(late.run(read_upstream(late.context(), response)).error_code() ==
        grpc::StatusCode::CANCELLED);
  CHECK(response.empty());
  // A call already over runs the hook at once: the operation never waits.
  gryphon::testing::TestCall over;
  over.client_cancelled = true;
  CHECK(over.run(read_upstream(over.context(), response)).error_code() ==
        grpc::StatusCode::CANCELLED);
}

TEST_CASE("what an async handler throws comes out of TestCall::run") {
  gryphon::testing::TestCall call;
  CHECK_THROWS_WITH(call.run(broken(call.context())), "the cache is gone");
}

TEST_CASE("TestCall gives the handler the client's metadata and records what it sent back") {
  gryphon::testing::TestCall call;
  call.metadata.emplace("x-tenant", "acme");
  std::string response;
  REQUIRE(get_item(call.context(), "lamp", response).ok());
  CHECK(response == "lamp@acme");
  CHECK(call.initial_metadata == std::multimap<std::string, std::string>{{"x-shard", "7"}});
  CHECK(call.trailing_metadata == std::multimap<std::string, std::string>{{"x-served-by", "acme"}});
  CHECK(call.compression == gryphon::Compression::kGzip);

  gryphon::testing::TestCall anonymous;
  CHECK(get_item(anonymous.context(), "lamp", response).error_code() ==
        grpc::StatusCode::UNAUTHENTICATED);
}

TEST_CASE("TestCall's deadline, cancel and draining reach the handler's Context") {
  gryphon::testing::TestCall call;
  call.metadata.emplace("x-tenant", "acme");
  const auto deadline = std::chrono::system_clock::now() + std::chrono::seconds(30);
  call.client_deadline = deadline;
  CHECK(call.context().deadline() == deadline);
  CHECK(call.context().has_deadline());
  call.draining = true;
  std::string response;
  REQUIRE(get_item(call.context(), "lamp", response).ok());
  CHECK(response == "lamp@acme (draining)");
  call.client_cancelled = true;
  CHECK(get_item(call.context(), "lamp", response).error_code() == grpc::StatusCode::CANCELLED);

  gryphon::testing::TestCall past;
  past.client_deadline = std::chrono::system_clock::now() - std::chrono::seconds(1);
  CHECK(past.context().deadline_passed());
  CHECK(past.context().is_cancelled());
  CHECK_FALSE(past.context().cancelled_by_client());
}

TEST_CASE("RecordingWriter keeps each message with its write options") {
  gryphon::testing::TestCall call;
  gryphon::testing::RecordingWriter<std::string> writer;
  REQUIRE(list_items(call.context(), writer).ok());
  CHECK(writer.headers_sent);
  CHECK(writer.written == std::vector<std::string>{"a", "b", "ipv4:127.0.0.1:50000"});
  REQUIRE(writer.write_options.size() == 3);
  CHECK(writer.write_options[0].buffer_hint);
  CHECK_FALSE(writer.write_options[0].last_message);
  CHECK(writer.write_options[2].last_message);
}

TEST_CASE("ScriptedReader replays the client's messages, then the end of the stream") {
  gryphon::testing::TestCall call;
  gryphon::testing::ScriptedReader<std::string> reader({"ab", "cde", ""});
  std::string response;
  REQUIRE(sum(call.context(), reader, response).ok());
  CHECK(response == "5");
  std::string after;
  CHECK_FALSE(reader.Read(&after));
}

TEST_CASE("ScriptedStream is both, for bidi handlers") {
  gryphon::testing::TestCall call;
  gryphon::testing::ScriptedStream<std::string, std::string> stream({"hi", "bye"});
  REQUIRE(chat(call.context(), stream).ok());
  CHECK(stream.written() == std::vector<std::string>{"re: hi", "re: bye"});
}

}  // namespace
