// The native transport's Session (transport/native/session.h) in memory: an nghttp2 client
// session as the peer — a client gryphon did not write — bytes handed across with no socket, the
// I/O loop run by hand. Each case is a connection policy gryphon adds to nghttp2: ping strikes,
// the two-step GOAWAY drain (answered and unanswered), refused streams, the metadata limit,
// GOAWAY on demand, never-indexed per-call headers, new calls parked past the response budget
// until the client reads. Milliseconds each, and under the sanitizers.
#include "transport/native/session.h"

#include <nghttp2/nghttp2.h>

#include <boost/asio/io_context.hpp>
#include <boost/asio/thread_pool.hpp>
#include <catch2/catch.hpp>
#include <atomic>
#include <chrono>
#include <cstdint>
#include <map>
#include <memory>
#include <string>
#include <thread>
#include <utility>
#include <vector>

#include "dispatch/dispatcher.h"
#include "transport/native/grpc_wire.h"

namespace gryphon::internal::native {
namespace {

constexpr std::int32_t kMaxStreamId = (1u << 31) - 1;

// A gRPC message as it crosses the wire (length-prefixed, uncompressed).
std::string grpc_message(std::string_view payload) {
  std::string framed;
  frame_message(payload, Compression::kNone, &framed);
  return framed;
}

constexpr std::size_t kMiB = 1 << 20;
std::atomic<int> g_echoes{0};  // Echo handlers run

// The service: an inline unary echo whose handler also sends per-call metadata back, and on the
// pool a server stream that writes two 1 MiB messages.
std::vector<Dispatcher::Service> services() {
  MethodDef echo{.service = "test.Echo", .method = "Echo", .type = RpcType::kUnary};
  echo.unary = [](Context& context, std::string_view request, std::string& response) {
    ++g_echoes;
    context.add_initial_metadata("x-request-id", "6f1e2d");
    context.add_initial_metadata("x-shard", "7");
    response = std::string(request);
    return grpc::Status::OK;
  };
  MethodDef flood{.service = "test.Flood", .method = "Flood", .type = RpcType::kServerStreaming};
  flood.stream = [](Context&, RawStream& stream) {
    std::string request;
    stream.read(request);
    for (int i = 0; i < 2; ++i)
      if (!stream.write(std::string(kMiB, 'f'))) break;
    return grpc::Status::OK;
  };
  return {{ServiceDef{"test.Echo", {echo}}, true, false},
          {ServiceDef{"test.Flood", {flood}}, false, false}};
}

// What the client saw, frame by frame.
struct Seen {
  struct Header {
    std::string name, value;
    bool never_indexed;
  };
  std::vector<std::uint8_t> frames;  // frame types, in order
  std::map<std::int32_t, std::vector<Header>> headers;
  std::map<std::int32_t, std::string> data;
  std::map<std::int32_t, std::uint32_t> resets;
  std::vector<std::pair<std::int32_t, std::uint32_t>> goaways;  // (last stream id, error code)
  std::vector<std::string> goaway_debug;
  int pings = 0, ping_acks = 0;

  std::string header(std::int32_t stream, const std::string& name) const {
    const auto it = headers.find(stream);
    if (it == headers.end()) return "";
    for (const auto& h : it->second)
      if (h.name == name) return h.value;
    return "";
  }
  bool never_indexed(std::int32_t stream, const std::string& name) const {
    for (const auto& h : headers.at(stream))
      if (h.name == name) return h.never_indexed;
    FAIL("no header " << name << " on stream " << stream);
    return false;
  }
};

// A Session and an nghttp2 client connected back to back.
class Wire {
 public:
  // `threads`: the handler pool, all of it open to streams.
  explicit Wire(Config config, bool client_answers_pings = true, int threads = 1)
      : config_(std::move(config)),
        pool_(static_cast<std::size_t>(threads)),
        dispatcher_(options(threads), services(), {}, pool_) {
    session_ = std::make_shared<Session>(io_, dispatcher_, config_, "ipv4:127.0.0.1:1",
                                         Session::Hooks{[] {}, [this] { handshake_done = true; }});
    REQUIRE(session_->start());
    nghttp2_session_callbacks* callbacks = nullptr;
    nghttp2_session_callbacks_new(&callbacks);
    nghttp2_session_callbacks_set_on_frame_recv_callback(callbacks, on_frame);
    nghttp2_session_callbacks_set_on_header_callback(callbacks, on_header);
    nghttp2_session_callbacks_set_on_data_chunk_recv_callback(callbacks, on_data);
    nghttp2_option* option = nullptr;
    nghttp2_option_new(&option);
    if (!client_answers_pings) nghttp2_option_set_no_auto_ping_ack(option, 1);
    // Streams beyond the server's announced limit are sent, not queued: that is the case tested.
    nghttp2_option_set_peer_max_concurrent_streams(option, 1000);
    REQUIRE(nghttp2_session_client_new2(&client_, callbacks, this, option) == 0);
    nghttp2_option_del(option);
    nghttp2_session_callbacks_del(callbacks);
    nghttp2_submit_settings(client_, NGHTTP2_FLAG_NONE, nullptr, 0);
  }
  ~Wire() {
    session_->close();
    io_.restart();
    io_.poll();  // what the streams posted as they closed
    session_.reset();
    io_.restart();
    io_.poll();
    nghttp2_session_del(client_);
  }

  // What the client would send now, taken without handing it to the server (bytes on the wire).
  std::string client_bytes() {
    std::string bytes;
    for (;;) {
      const std::uint8_t* data = nullptr;
      const ssize_t n = nghttp2_session_mem_send(client_, &data);
      if (n <= 0) return bytes;
      bytes.append(reinterpret_cast<const char*>(data), static_cast<std::size_t>(n));
    }
  }
  void to_server(const std::string& bytes) {
    last_input =
        session_->receive(reinterpret_cast<const std::uint8_t*>(bytes.data()), bytes.size());
  }

  // Moves bytes both ways and runs the loop until neither side has anything more to say. With
  // `deliver_to_client` false the server's bytes are held back (the client has not read them).
  void pump(bool deliver_to_client = true) {
    for (int round = 0; round < 100000; ++round) {
      bool moved = false;
      if (deliver_to_client) {
        std::string out;
        session_->take_output(out);
        if (!out.empty()) {
          moved = true;
          server_bytes += out;
          REQUIRE(nghttp2_session_mem_recv(client_,
                                           reinterpret_cast<const std::uint8_t*>(out.data()),
                                           out.size()) == static_cast<ssize_t>(out.size()));
        }
      }
      for (;;) {
        const std::uint8_t* bytes = nullptr;
        const ssize_t n = nghttp2_session_mem_send(client_, &bytes);
        if (n <= 0) break;
        moved = true;
        last_input = session_->receive(bytes, static_cast<std::size_t>(n));
      }
      if (io_.poll() > 0) moved = true;
      io_.restart();
      if (!moved) return;
    }
    FAIL("the two sides kept talking for 100,000 rounds");
  }

  // A unary call to test.Echo/Echo with `extra` request headers; its stream id.
  std::int32_t call(std::string_view message,
                    const std::vector<std::pair<std::string, std::string>>& extra = {},
                    const std::string& path = "/test.Echo/Echo") {
    std::vector<std::pair<std::string, std::string>> fields{
        {":method", "POST"},         {":scheme", "http"}, {":path", path},
        {":authority", "localhost"}, {"te", "trailers"},  {"content-type", "application/grpc"}};
    fields.insert(fields.end(), extra.begin(), extra.end());
    std::vector<nghttp2_nv> nva;
    for (auto& [name, value] : fields) {
      nva.push_back({reinterpret_cast<std::uint8_t*>(name.data()),
                     reinterpret_cast<std::uint8_t*>(value.data()), name.size(), value.size(),
                     NGHTTP2_NV_FLAG_NONE});
    }
    auto body = std::make_unique<Body>(Body{grpc_message(message), 0});
    nghttp2_data_provider provider;
    provider.source.ptr = body.get();
    provider.read_callback = read_body;
    const std::int32_t id =
        nghttp2_submit_request(client_, nullptr, nva.data(), nva.size(), &provider, nullptr);
    REQUIRE(id > 0);
    bodies_.push_back(std::move(body));
    return id;
  }

  // Runs the loop (handlers on the pool post to it) until `done` holds, for at most 10 s.
  template <class Done>
  bool pump_until(Done done, bool deliver_to_client = true) {
    const auto deadline = std::chrono::steady_clock::now() + std::chrono::seconds(10);
    while (!done()) {
      if (std::chrono::steady_clock::now() > deadline) return false;
      pump(deliver_to_client);
      std::this_thread::sleep_for(std::chrono::milliseconds(1));
    }
    return true;
  }

  void ping() { REQUIRE(nghttp2_submit_ping(client_, NGHTTP2_FLAG_NONE, nullptr) == 0); }
  void answer_ping() { REQUIRE(nghttp2_submit_ping(client_, NGHTTP2_FLAG_ACK, nullptr) == 0); }
  Session& session() { return *session_; }

  Seen seen;
  std::string server_bytes;  // everything the server sent, as sent
  // The GOAWAYs the server sent, (last stream id, error code), read from its bytes: an nghttp2
  // client with no stream open stops reading once it has one GOAWAY, so it never reports the
  // drain's second.
  std::vector<std::pair<std::int32_t, std::uint32_t>> server_goaways() const {
    std::vector<std::pair<std::int32_t, std::uint32_t>> found;
    const auto* b = reinterpret_cast<const std::uint8_t*>(server_bytes.data());
    const auto word = [&](std::size_t at) {
      return (std::uint32_t{b[at]} << 24) | (std::uint32_t{b[at + 1]} << 16) |
             (std::uint32_t{b[at + 2]} << 8) | b[at + 3];
    };
    for (std::size_t at = 0; at + 9 <= server_bytes.size();) {
      const std::size_t length =
          (std::size_t{b[at]} << 16) | (std::size_t{b[at + 1]} << 8) | b[at + 2];
      if (b[at + 3] == NGHTTP2_GOAWAY && length >= 8 && at + 9 + length <= server_bytes.size())
        found.emplace_back(static_cast<std::int32_t>(word(at + 9) & 0x7fffffffu), word(at + 13));
      at += 9 + length;
    }
    return found;
  }
  bool handshake_done = false;
  Session::Input last_input = Session::Input::kOk;

 private:
  struct Body {
    std::string bytes;
    std::size_t sent;
  };
  static DispatchOptions options(int threads) {
    DispatchOptions options;
    options.max_streaming_calls = threads;
    return options;
  }
  static Wire& of(void* user) { return *static_cast<Wire*>(user); }
  static ssize_t read_body(nghttp2_session*, std::int32_t, std::uint8_t* buf, std::size_t length,
                           std::uint32_t* flags, nghttp2_data_source* source, void*) {
    auto* body = static_cast<Body*>(source->ptr);
    const std::size_t n = std::min(length, body->bytes.size() - body->sent);
    std::copy_n(body->bytes.data() + body->sent, n, buf);
    body->sent += n;
    if (body->sent == body->bytes.size()) *flags |= NGHTTP2_DATA_FLAG_EOF;
    return static_cast<ssize_t>(n);
  }
  static int on_frame(nghttp2_session*, const nghttp2_frame* frame, void* user) {
    Seen& seen = of(user).seen;
    seen.frames.push_back(frame->hd.type);
    if (frame->hd.type == NGHTTP2_RST_STREAM)
      seen.resets[frame->hd.stream_id] = frame->rst_stream.error_code;
    if (frame->hd.type == NGHTTP2_GOAWAY) {
      seen.goaways.emplace_back(frame->goaway.last_stream_id, frame->goaway.error_code);
      seen.goaway_debug.emplace_back(reinterpret_cast<const char*>(frame->goaway.opaque_data),
                                     frame->goaway.opaque_data_len);
    }
    if (frame->hd.type == NGHTTP2_PING)
      ++(frame->hd.flags & NGHTTP2_FLAG_ACK ? seen.ping_acks : seen.pings);
    return 0;
  }
  static int on_header(nghttp2_session*, const nghttp2_frame* frame, const std::uint8_t* name,
                       std::size_t namelen, const std::uint8_t* value, std::size_t valuelen,
                       std::uint8_t flags, void* user) {
    of(user).seen.headers[frame->hd.stream_id].push_back(
        {std::string(reinterpret_cast<const char*>(name), namelen),
         std::string(reinterpret_cast<const char*>(value), valuelen),
         (flags & NGHTTP2_NV_FLAG_NO_INDEX) != 0});
    return 0;
  }
  static int on_data(nghttp2_session*, std::uint8_t, std::int32_t id, const std::uint8_t* data,
                     std::size_t len, void* user) {
    of(user).seen.data[id].append(reinterpret_cast<const char*>(data), len);
    return 0;
  }

  Config config_;
  boost::asio::io_context io_;
  boost::asio::thread_pool pool_;
  Dispatcher dispatcher_;
  std::shared_ptr<Session> session_;
  nghttp2_session* client_ = nullptr;
  std::vector<std::unique_ptr<Body>> bodies_;
};

TEST_CASE("a unary call crosses the session: headers, the echoed message, grpc-status 0") {
  Wire wire{Config{}};
  const std::int32_t id = wire.call("hello");
  wire.pump();
  CHECK(wire.handshake_done);
  CHECK(wire.seen.header(id, ":status") == "200");
  CHECK(wire.seen.header(id, "grpc-status") == "0");
  CHECK(wire.seen.data[id] == grpc_message("hello"));
  CHECK(wire.seen.goaways.empty());
}

TEST_CASE("per-call headers leave never-indexed, the rest may enter the HPACK table") {
  Wire wire{Config{}};
  const std::int32_t id = wire.call("x");
  wire.pump();
  CHECK(wire.seen.header(id, "x-request-id") == "6f1e2d");
  CHECK(wire.seen.never_indexed(id, "x-request-id"));
  CHECK_FALSE(wire.seen.never_indexed(id, "x-shard"));
}

TEST_CASE("pings sooner than --keepalive-min-interval: the third strike is GOAWAY too_many_pings") {
  Config config;
  config.keepalive_min_interval = std::chrono::seconds(10);
  Wire wire{config};
  wire.pump();
  for (int ping = 1; ping <= 3; ++ping) {  // the first is no strike; two strikes are forgiven
    wire.ping();
    wire.pump();
  }
  CHECK(wire.seen.ping_acks == 3);
  CHECK(wire.seen.goaways.empty());
  wire.ping();
  wire.pump();
  REQUIRE(wire.seen.goaways.size() == 1);
  CHECK(wire.seen.goaways[0].second == NGHTTP2_ENHANCE_YOUR_CALM);
  CHECK(wire.seen.goaway_debug[0] == "too_many_pings");
  CHECK(wire.session().going_away());
}

TEST_CASE("a response between pings forgives the strikes") {
  Config config;
  config.keepalive_min_interval = std::chrono::seconds(10);
  Wire wire{config};
  for (int round = 0; round < 4; ++round) {
    wire.ping();
    wire.pump();
    wire.ping();
    wire.pump();
    wire.call("keep going");  // HEADERS and DATA from the server: pings are welcome again
    wire.pump();
  }
  CHECK(wire.seen.ping_acks == 8);
  CHECK(wire.seen.goaways.empty());
}

TEST_CASE("drain: GOAWAY naming no limit and a PING, then the real GOAWAY when the PING returns") {
  Wire wire{Config{}};
  const std::int32_t before = wire.call("before the drain");
  wire.pump();
  wire.session().drain();
  wire.pump();
  // The client answered the PING at once: both GOAWAYs are out, the second naming the last call.
  REQUIRE(wire.server_goaways().size() == 2);
  CHECK(wire.server_goaways()[0] == std::make_pair(kMaxStreamId, std::uint32_t{NGHTTP2_NO_ERROR}));
  CHECK(wire.seen.pings == 1);
  CHECK(wire.server_goaways()[1] == std::make_pair(before, std::uint32_t{NGHTTP2_NO_ERROR}));
  CHECK(wire.seen.header(before, "grpc-status") == "0");
}

TEST_CASE("drain: a call the client sent before it saw the notice is served and named") {
  Wire wire{Config{}, /*client_answers_pings=*/false};
  wire.pump();
  const std::int32_t late = wire.call("in flight during the drain");
  const std::string in_flight = wire.client_bytes();  // on the wire when the drain begins
  wire.session().drain();
  wire.to_server(in_flight);
  wire.pump();
  REQUIRE(wire.server_goaways().size() ==
          1);  // the notice; the real one waits for the PING's answer
  CHECK(wire.server_goaways()[0].first == kMaxStreamId);
  CHECK(wire.seen.pings == 1);
  CHECK(wire.seen.header(late, "grpc-status") == "0");
  wire.answer_ping();
  wire.pump();
  REQUIRE(wire.server_goaways().size() == 2);
  CHECK(wire.server_goaways()[1].first == late);
}

TEST_CASE("drain: a client that never answers the PING gets the real GOAWAY from finish_drain") {
  Wire wire{Config{}, /*client_answers_pings=*/false};
  const std::int32_t id = wire.call("one");
  wire.pump();
  wire.session().drain();
  wire.pump();
  REQUIRE(wire.server_goaways().size() == 1);
  wire.session().finish_drain();  // the connection's drain deadline passed
  wire.pump();
  REQUIRE(wire.server_goaways().size() == 2);
  CHECK(wire.server_goaways()[1] == std::make_pair(id, std::uint32_t{NGHTTP2_NO_ERROR}));
  CHECK(wire.session().done());
}

TEST_CASE("streams over --max-concurrent-streams before SETTINGS are acked: REFUSED_STREAM") {
  Config config;
  config.max_concurrent_streams = 2;
  Wire wire{config};
  // The client sends four calls before it has read the server's SETTINGS (nothing delivered).
  std::vector<std::int32_t> ids;
  for (int i = 0; i < 4; ++i) ids.push_back(wire.call("burst"));
  wire.pump(/*deliver_to_client=*/false);
  wire.pump();
  CHECK(wire.seen.header(ids[0], "grpc-status") == "0");
  CHECK(wire.seen.header(ids[1], "grpc-status") == "0");
  // Refused, so unprocessed: RFC 9113 §8.7 lets the client retry them.
  CHECK(wire.seen.resets.at(ids[2]) == NGHTTP2_REFUSED_STREAM);
  CHECK(wire.seen.resets.at(ids[3]) == NGHTTP2_REFUSED_STREAM);
  CHECK(wire.seen.header(ids[2], "grpc-status").empty());
  CHECK(wire.seen.goaways.empty());  // only those streams: the connection serves on
  const std::int32_t after = wire.call("after");
  wire.pump();
  CHECK(wire.seen.header(after, "grpc-status") == "0");
}

TEST_CASE(
    "request headers over --max-metadata-size: RESOURCE_EXHAUSTED, the connection serves on") {
  Config config;
  config.max_metadata_size = 1024;
  Wire wire{config};
  wire.pump();  // SETTINGS exchanged and acked: the limit is in force
  const std::int32_t big = wire.call("big", {{"x-hostile", std::string(4096, 'm')}});
  wire.pump();
  CHECK(wire.seen.header(big, "grpc-status") == "8");
  const std::int32_t small = wire.call("small", {{"x-tenant", "acme"}});
  wire.pump();
  CHECK(wire.seen.header(small, "grpc-status") == "0");
  CHECK(wire.seen.goaways.empty());
}

TEST_CASE("go_away names the last stream taken and the reason") {
  Wire wire{Config{}};
  const std::int32_t id = wire.call("one");
  wire.pump();
  wire.session().go_away(NGHTTP2_NO_ERROR, "connection limit");
  wire.pump();
  REQUIRE(wire.seen.goaways.size() == 1);
  CHECK(wire.seen.goaways[0] == std::make_pair(id, std::uint32_t{NGHTTP2_NO_ERROR}));
  CHECK(wire.seen.goaway_debug[0] == "connection limit");
  CHECK(wire.session().going_away());
}

TEST_CASE("past 16 MiB of unsent responses new calls wait, and run once the client reads") {
  Wire wire{Config{}, true, 24};
  wire.pump();
  // 20 streams whose handlers each frame 2 MiB; the client reads none of it (nothing delivered).
  for (int i = 0; i < 20; ++i) wire.call("", {}, "/test.Flood/Flood");
  REQUIRE(wire.pump_until([&] { return wire.session().unsent() > 16 * kMiB; }, false));
  const int before = g_echoes.load();
  const std::int32_t parked = wire.call("parked");
  wire.pump(false);
  CHECK(g_echoes.load() == before);  // parked: its handler has not run
  // The client reads: the responses leave, the budget frees, the parked call runs.
  REQUIRE(wire.pump_until([&] { return !wire.seen.header(parked, "grpc-status").empty(); }));
  CHECK(wire.seen.header(parked, "grpc-status") == "0");
  CHECK(g_echoes.load() == before + 1);
  REQUIRE(wire.pump_until([&] { return wire.session().unsent() == 0; }));
}

TEST_CASE("bytes that are not HTTP/2 close the connection at once, with nothing to say") {
  Config config;
  boost::asio::io_context io;
  boost::asio::thread_pool pool{1};
  Dispatcher dispatcher(DispatchOptions{}, services(), {}, pool);
  auto session = std::make_shared<Session>(io, dispatcher, config, "peer", Session::Hooks{});
  REQUIRE(session->start());
  const std::string http1 = "GET / HTTP/1.1\r\nHost: x\r\n\r\n";
  CHECK(session->receive(reinterpret_cast<const std::uint8_t*>(http1.data()), http1.size()) ==
        Session::Input::kCloseNow);
  session->close();
}

}  // namespace
}  // namespace gryphon::internal::native
