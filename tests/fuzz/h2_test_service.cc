#include "h2_test_service.h"

#include <atomic>
#include <stdexcept>

namespace gryphon::fuzz {
namespace {

// Response messages are cut to these sizes, so a small compressed request cannot make a large
// response on its own (the output bound is about the transport, not about the test service).
constexpr std::size_t kEchoCap = 1024, kRepeatCap = 128, kEchoValues = 4, kEchoValueCap = 64;

std::atomic<int> g_waiting{0};  // handlers inside a RawStream call that may wait on the client
struct Waiting {
  Waiting() { ++g_waiting; }
  ~Waiting() { --g_waiting; }
};
bool read(RawStream& stream, std::string& message) {
  Waiting waiting;
  return stream.read(message);
}
bool write(RawStream& stream, std::string_view message, WriteOptions options = {}) {
  Waiting waiting;
  return stream.write(message, options);
}

// What request metadata asks of every method: x-compress (gzip|deflate), x-echo[-bin] (every
// value) and x-peer copied to the response headers, x-status as the status code, x-throw an
// exception; a binary trailer always.
grpc::Status from_metadata(Context& context) {
  if (context.find_metadata("x-throw")) throw std::runtime_error("x-throw asked for it");
  if (const auto compress = context.find_metadata("x-compress")) {
    if (*compress == "gzip") context.set_compression(Compression::kGzip);
    if (*compress == "deflate") context.set_compression(Compression::kDeflate);
  }
  // At most kEchoValues values of kEchoValueCap bytes each: HPACK lets a client repeat a large
  // value for a byte or two, and an unbounded echo would measure the service, not the transport.
  for (const char* key : {"x-echo", "x-echo-bin"}) {
    const auto values = context.metadata_values(key);
    for (std::size_t i = 0; i < values.size() && i < kEchoValues; ++i)
      context.add_initial_metadata(key, std::string(values[i].substr(0, kEchoValueCap)));
  }
  if (context.find_metadata("x-peer")) context.add_initial_metadata("x-peer", context.peer());
  context.add_trailing_metadata("x-trailer-bin", std::string("\0\xff\r\n", 4));
  const auto text = context.find_metadata("x-status");  // decimal, taken modulo 17
  if (!text) return grpc::Status::OK;
  int code = 0;
  for (char c : *text) {
    if (c < '0' || c > '9') break;
    code = (code * 10 + (c - '0')) % 17;
  }
  return grpc::Status(static_cast<grpc::StatusCode>(code),
                      code == 0 ? "" : "fuzz status: 100% sure \xc3\xa9\r\n\x01");
}

grpc::Status echo(Context& context, std::string_view request, std::string& response) {
  response.assign(request.substr(0, kEchoCap));
  return from_metadata(context);
}

// Server streaming: request[0] % 8 copies of the request.
grpc::Status repeat(Context& context, RawStream& stream) {
  const grpc::Status status = from_metadata(context);
  std::string request;
  if (!read(stream, request)) return grpc::Status(grpc::StatusCode::INVALID_ARGUMENT, "no request");
  const int count = request.empty() ? 0 : static_cast<unsigned char>(request[0]) % 8;
  const std::string message = request.substr(0, kRepeatCap);
  for (int i = 0; i < count && !context.is_cancelled(); ++i) {
    const WriteOptions options{
        .no_compression = i % 3 == 1, .buffer_hint = i % 2 == 0, .last_message = i + 1 == count};
    if (!write(stream, message, options)) break;
  }
  return status;
}

// Client streaming: reads everything, answers with the count.
grpc::Status sum(Context& context, RawStream& stream) {
  const grpc::Status status = from_metadata(context);
  std::string message;
  std::size_t count = 0;
  while (count < 256 && read(stream, message)) ++count;
  write(stream, std::to_string(count), WriteOptions{.last_message = true});
  return status;
}

// Bidi: echoes each message; x-headers-first sends the headers before reading.
grpc::Status chat(Context& context, RawStream& stream) {
  const grpc::Status status = from_metadata(context);
  if (context.find_metadata("x-headers-first")) {
    Waiting waiting;
    stream.send_initial_metadata();
  }
  std::string message;
  for (int i = 0; i < 64 && read(stream, message); ++i) {
    if (!write(stream, message.substr(0, kEchoCap), {.buffer_hint = message.size() % 2 == 1}))
      break;
  }
  return status;
}

}  // namespace

int handlers_waiting() {
  return g_waiting.load();
}

std::vector<internal::Dispatcher::Service> test_services() {
  ServiceDef pool{"fuzz.Echo", {}};
  pool.methods.push_back({"fuzz.Echo", "Echo", RpcType::kUnary, echo, {}, {}});
  pool.methods.push_back({"fuzz.Echo", "Repeat", RpcType::kServerStreaming, {}, repeat, {}});
  pool.methods.push_back({"fuzz.Echo", "Sum", RpcType::kClientStreaming, {}, sum, {}});
  pool.methods.push_back({"fuzz.Echo", "Chat", RpcType::kBidiStreaming, {}, chat, {}});
  ServiceDef inline_service{"fuzz.Inline", {}};
  inline_service.methods.push_back({"fuzz.Inline", "Echo", RpcType::kUnary, echo, {}, {}});
  return {{pool, false, false}, {inline_service, true, false}};
}

Config test_config(int variant) {
  Config config;
  switch (variant) {
    case 1:  // tight limits: messages, metadata, streams
      config.max_receive_message_size = 64;
      config.max_send_message_size = 32;
      config.max_metadata_size = 512;
      config.max_concurrent_streams = 2;
      config.max_rpcs_per_connection = 1;  // the second running call is refused
      break;
    case 2:  // pings welcome; one stream at a time
      config.keepalive_min_interval = Duration(0);
      config.max_concurrent_streams = 1;
      break;
    case 3:
      config.max_metadata_size = 64 << 10;
      config.stream_idle_timeout = Duration(50);  // a handler's read() gives up
      config.max_call_rate_per_connection = 3;    // the fourth call at once: GOAWAY
      break;
    default: break;
  }
  return config;
}

}  // namespace gryphon::fuzz
