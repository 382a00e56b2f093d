// Observability drills: the access log's fields and formats, log reopening, and the master's
// merged /metrics endpoint — exact after a known mix of RPCs, valid for promtool, monotonic, and
// complete even when a worker is killed with SIGKILL under load.
#include <grpcpp/grpcpp.h>
#include <grpcpp/impl/codegen/client_unary_call.h>
#include <arpa/inet.h>
#include <netinet/in.h>
#include <signal.h>
#include <sys/socket.h>
#include <unistd.h>

#include <catch2/catch.hpp>
#include <functional>
#include <cstdio>
#include <filesystem>
#include <fstream>
#include <set>
#include <thread>

#include "drill.grpc.pb.h"
#include "greeter.grpc.pb.h"
#include "harness.h"
#include "load.h"

using namespace gryphon::test;

namespace {

std::vector<std::string> lines_of(const std::string& text) {
  std::vector<std::string> lines;
  std::istringstream in(text);
  std::string line;
  while (std::getline(in, line)) {
    if (!line.empty()) lines.push_back(line);
  }
  return lines;
}

struct Clients {
  explicit Clients(const std::string& target) {
    auto channel = grpc::CreateChannel(target, grpc::InsecureChannelCredentials());
    greeter = helloworld::Greeter::NewStub(channel);
    drill = gryphon::test::Drill::NewStub(channel);
  }
  std::unique_ptr<helloworld::Greeter::Stub> greeter;
  std::unique_ptr<gryphon::test::Drill::Stub> drill;
};

grpc::Status say_hello(Clients& c, const std::string& request_id = "") {
  grpc::ClientContext context;
  if (!request_id.empty()) context.AddMetadata("x-request-id", request_id);
  helloworld::HelloRequest request;
  request.set_name("log");
  helloworld::HelloReply reply;
  return c.greeter->SayHello(&context, request, &reply);
}

// One call of each outcome. `in_flight` tells when the server is running a call: the Wait call
// is cancelled once its handler has it (a cancel that arrived first would leave no log line).
void call_each_outcome(Clients& c, const std::function<bool()>& in_flight) {
  REQUIRE(say_hello(c, "req-42").ok());
  {
    grpc::ClientContext context;
    gryphon::test::FailRequest request;
    request.set_code(grpc::StatusCode::NOT_FOUND);
    request.set_message("no such thing");
    gryphon::test::FailReply reply;
    REQUIRE(c.drill->Fail(&context, request, &reply).error_code() == grpc::StatusCode::NOT_FOUND);
  }
  {
    grpc::ClientContext context;
    gryphon::test::ThrowRequest request;
    request.set_message("boom");
    gryphon::test::ThrowReply reply;
    const grpc::Status status = c.drill->Throw(&context, request, &reply);
    REQUIRE(status.error_code() == grpc::StatusCode::INTERNAL);
    CHECK(status.error_message() ==
          "internal error");  // the exception text stays in the server log
  }
  {
    grpc::ClientContext context;
    gryphon::test::SleepRequest request;
    request.set_millis(3000);
    gryphon::test::SleepReply reply;
    bool reached = false;
    std::thread cancel([&] {
      reached = wait_until(in_flight, std::chrono::milliseconds(2500));
      context.TryCancel();
    });
    const grpc::Status waited = c.drill->Wait(&context, request, &reply);
    cancel.join();
    REQUIRE(reached);  // the server had the call before the cancel (within 2.5 s of 3 s)
    REQUIRE(waited.error_code() == grpc::StatusCode::CANCELLED);
  }
  {
    grpc::ClientContext context;
    context.set_deadline(std::chrono::system_clock::now() + std::chrono::milliseconds(100));
    gryphon::test::SleepRequest request;
    request.set_millis(300);
    gryphon::test::SleepReply reply;
    REQUIRE(c.drill->Sleep(&context, request, &reply).error_code() ==
            grpc::StatusCode::DEADLINE_EXCEEDED);
  }
}

// A unary call with an empty request to any path, known to the server or not.
grpc::Status call_path(const std::string& target, const std::string& path) {
  auto channel = grpc::CreateChannel(target, grpc::InsecureChannelCredentials());
  grpc::ClientContext context;
  context.set_deadline(std::chrono::system_clock::now() + std::chrono::seconds(5));
  grpc::Slice empty;
  const grpc::ByteBuffer request(&empty, 1);
  grpc::ByteBuffer response;
  const grpc::internal::RpcMethod method(path.c_str(), grpc::internal::RpcMethod::NORMAL_RPC);
  return grpc::internal::BlockingUnaryCall(channel.get(), method, &context, request, &response);
}

std::string find_line(const std::vector<std::map<std::string, std::string>>& lines,
                      const std::string& method) {
  for (const auto& fields : lines) {
    if (fields.count("grpc.method") && fields.at("grpc.method") == method)
      return fields.at("grpc.code");
  }
  return "missing";
}

}  // namespace

TEST_CASE("the access log records each outcome with go-grpc-middleware fields, in every format",
          "[observability][access-log]") {
  for (const std::string format : {"json", "text", "ltsv"}) {
    DYNAMIC_SECTION("format " << format) {
      TempDir dir;
      const std::string log_file = dir.file("access.log");
      ServerProcess server(
          binary_path("GRYPHON_DRILL_SERVER"),
          {"--listen", "127.0.0.1:0", "--workers", "2", "--metrics-address", "127.0.0.1:0",
           "--access-log", log_file, "--access-log-format", format});
      server.wait_ready();
      Clients clients(server.target());
      call_each_outcome(clients, [&] {
        const auto m = parse_metrics(http_get(server.ready().metrics, "/metrics"));
        return metric(m, "gryphon_in_flight_rpcs{slot=\"0\"}") +
                   metric(m, "gryphon_in_flight_rpcs{slot=\"1\"}") >
               0;
      });
      const grpc::Status unknown = call_path(server.target(), "/helloworld.Greeter/Nope");
      CHECK(unknown.error_code() == grpc::StatusCode::UNIMPLEMENTED);
      CHECK(unknown.error_message() == "unknown method Nope for service helloworld.Greeter");
      REQUIRE(wait_until([&] { return lines_of(read_file(log_file)).size() >= 6; },
                         std::chrono::seconds(5)));
      const auto raw = lines_of(read_file(log_file));
      std::vector<std::map<std::string, std::string>> lines;
      for (const auto& line : raw) lines.push_back(access_log_fields(line, format));
      INFO(read_file(log_file));
      REQUIRE(lines.size() == 6);
      CHECK(find_line(lines, "SayHello") == "OK");
      CHECK(find_line(lines, "Fail") == "NotFound");
      CHECK(find_line(lines, "Throw") == "Internal");
      CHECK(find_line(lines, "Wait") == "Canceled");
      CHECK(find_line(lines, "Sleep") == "DeadlineExceeded");
      CHECK(find_line(lines, "Nope") == "Unimplemented");
      // The real peer on every line, also for calls that ended by cancel or deadline.
      for (const auto& fields : lines) CHECK(fields.at("peer.address").rfind("127.0.0.1:", 0) == 0);
      const auto& nope = *std::find_if(lines.begin(), lines.end(),
                                       [](auto& f) { return f["grpc.method"] == "Nope"; });
      CHECK(nope.at("grpc.service") == "helloworld.Greeter");
      CHECK(nope.at("grpc.method_type") == "unknown");
      const auto& hello = *std::find_if(lines.begin(), lines.end(),
                                        [](auto& f) { return f["grpc.method"] == "SayHello"; });
      CHECK(hello.at("grpc.service") == "helloworld.Greeter");
      CHECK(hello.at("grpc.method_type") == "unary");
      CHECK(hello.at("grpc.request_id") == "req-42");
      CHECK(hello.at("peer.address").rfind("127.0.0.1:", 0) == 0);
      CHECK(hello.at("user_agent").find("grpc-c++") != std::string::npos);
      CHECK(hello.at("grpc.request.messages") == "1");
      CHECK(hello.at("grpc.request.bytes") == "5");    // HelloRequest{name: "log"}
      CHECK(hello.at("grpc.response.bytes") == "11");  // HelloReply{message: "Hello log"}
      CHECK(std::stod(hello.at("grpc.time_ms")) >= 0);
      CHECK(hello.at("grpc.start_time").size() == 24);  // 2026-11-26T08:30:49.106Z
      CHECK((hello.at("slot") == "0" || hello.at("slot") == "1"));
      for (const auto& fields : lines) CHECK(fields.count("time"));
      if (format == "json") {
        // Every line is a JSON document by a real parser's standard.
        const std::string check =
            "python3 -c 'import json,sys; [json.loads(l) for l in open(sys.argv[1])]' " + log_file;
        CHECK(std::system(check.c_str()) == 0);
      }
    }
  }
}

TEST_CASE("the handler and the response see the request id, generated when the client sent none",
          "[observability][request-id]") {
  ServerProcess server(binary_path("GRYPHON_DRILL_SERVER"),
                       {"--listen", "127.0.0.1:0", "--workers", "1", "--metrics-address", ""});
  server.wait_ready();
  Clients clients(server.target());
  std::set<std::string> generated;
  for (const std::string sent : {"abc-123", "", ""}) {
    grpc::ClientContext context;
    if (!sent.empty()) context.AddMetadata("x-request-id", sent);
    gryphon::test::InspectRequest request;
    gryphon::test::InspectReply reply;
    REQUIRE(clients.drill->Inspect(&context, request, &reply).ok());
    const auto& metadata = context.GetServerInitialMetadata();
    auto it = metadata.find("x-request-id");
    REQUIRE(it != metadata.end());
    const std::string got(it->second.data(), it->second.size());
    INFO("sent '" << sent << "', response header '" << got << "', handler saw '"
                  << reply.request_id() << "'");
    CHECK(reply.request_id() == got);  // Context::request_id() is what the client is told
    if (sent.empty()) {
      CHECK(got.size() == 32);
      CHECK(got.find_first_not_of("0123456789abcdef") == std::string::npos);
      generated.insert(got);
    } else {
      CHECK(got == sent);
    }
  }
  CHECK(generated.size() == 2);  // a fresh id per call
}

TEST_CASE("--request-id off sends no request id back", "[observability][request-id]") {
  ServerProcess server(binary_path("GRYPHON_DRILL_SERVER"),
                       {"--listen", "127.0.0.1:0", "--workers", "1", "--metrics-address", "",
                        "--request-id", "off"});
  server.wait_ready();
  Clients clients(server.target());
  grpc::ClientContext context;
  context.AddMetadata("x-request-id", "abc-123");
  helloworld::HelloRequest request;
  helloworld::HelloReply reply;
  REQUIRE(clients.greeter->SayHello(&context, request, &reply).ok());
  CHECK(context.GetServerInitialMetadata().count("x-request-id") == 0);
}

TEST_CASE("USR1 reopens the access log after logrotate renamed it", "[observability][access-log]") {
  TempDir dir;
  const std::string log_file = dir.file("access.log");
  ServerProcess server(binary_path("GRYPHON_DRILL_SERVER"),
                       {"--listen", "127.0.0.1:0", "--workers", "2", "--metrics-address", "",
                        "--access-log", log_file});
  server.wait_ready();
  Clients clients(server.target());
  REQUIRE(say_hello(clients).ok());
  REQUIRE(wait_until([&] { return lines_of(read_file(log_file)).size() == 1; },
                     std::chrono::seconds(5)));
  std::filesystem::rename(log_file, log_file + ".1");
  server.signal(SIGUSR1);
  // Each worker reopens on its next write; calls over fresh connections reach both workers.
  REQUIRE(wait_until(
      [&] {
        Clients fresh(server.target());
        (void)say_hello(fresh);
        return std::filesystem::exists(log_file) && lines_of(read_file(log_file)).size() >= 4;
      },
      std::chrono::seconds(10), std::chrono::milliseconds(50)));
  CHECK(lines_of(read_file(log_file + ".1")).size() <= 2);
}

TEST_CASE("merged /metrics equals a known mix of RPCs across workers and passes promtool",
          "[observability][metrics]") {
  ServerProcess server(
      binary_path("GRYPHON_DRILL_SERVER"),
      {"--listen", "127.0.0.1:0", "--workers", "2", "--metrics-address", "127.0.0.1:0"});
  server.wait_ready();
  int ok = 0, not_found = 0;
  for (int i = 0; i < 40; ++i) {
    Clients clients(server.target());  // a new connection each time, so both workers serve some
    REQUIRE(say_hello(clients).ok());
    ++ok;
    if (i % 4 == 0) {
      grpc::ClientContext context;
      gryphon::test::FailRequest request;
      request.set_code(grpc::StatusCode::NOT_FOUND);
      gryphon::test::FailReply reply;
      REQUIRE(clients.drill->Fail(&context, request, &reply).error_code() ==
              grpc::StatusCode::NOT_FOUND);
      ++not_found;
    }
  }
  // Until each worker has served some (which one accepts a connection is the kernel's choice):
  // the totals below are then sums over two processes' segments.
  const auto served_by = [&](int slot) {
    return metric(parse_metrics(http_get(server.ready().metrics, "/metrics")),
                  "gryphon_rpcs_served_total{slot=\"" + std::to_string(slot) + "\"}");
  };
  for (int extra = 0; extra < 400 && (served_by(0) == 0 || served_by(1) == 0); ++extra) {
    Clients clients(server.target());
    REQUIRE(say_hello(clients).ok());
    ++ok;
  }
  const std::string text = http_get(server.ready().metrics, "/metrics");
  const auto m = parse_metrics(text);
  const std::string hello =
      "grpc_method=\"SayHello\",grpc_service=\"helloworld.Greeter\",grpc_type=\"unary\"";
  const std::string fail =
      "grpc_method=\"Fail\",grpc_service=\"gryphon.test.Drill\",grpc_type=\"unary\"";
  CHECK(metric(m, "grpc_server_started_total{" + hello + "}") == ok);
  CHECK(metric(m, "grpc_server_handled_total{grpc_code=\"OK\"," + hello + "}") == ok);
  CHECK(metric(m, "grpc_server_msg_received_total{" + hello + "}") == ok);
  CHECK(metric(m, "grpc_server_msg_sent_total{" + hello + "}") == ok);
  CHECK(metric(m, "grpc_server_handling_seconds_count{" + hello + "}") == ok);
  CHECK(metric(m, "grpc_server_handled_total{grpc_code=\"NotFound\"," + fail + "}") == not_found);
  CHECK(metric(m, "grpc_server_msg_sent_total{" + fail + "}") == 0);
  // Both slots served: the counts above came from two processes' segments.
  CHECK(metric(m, "gryphon_rpcs_served_total{slot=\"0\"}") > 0);
  CHECK(metric(m, "gryphon_rpcs_served_total{slot=\"1\"}") > 0);
  TempDir dir;
  std::ofstream(dir.file("scrape.txt")) << text;
  if (std::system("command -v promtool >/dev/null") == 0) {
    CHECK(std::system(("promtool check metrics < " + dir.file("scrape.txt")).c_str()) == 0);
  } else {
    WARN("promtool not installed (Debian package prometheus): scrape not validated");
  }
}

TEST_CASE("after kill -9 of a worker under load no OK RPC is missing and no counter decreases",
          "[observability][metrics][kill]") {
  ServerProcess server(binary_path("GRYPHON_DRILL_SERVER"),
                       {"--listen", "127.0.0.1:0", "--workers", "2", "--metrics-address",
                        "127.0.0.1:0", "--max-connection-age", "1s"});
  server.wait_ready();
  LoadGenerator load({.target = server.target()});
  REQUIRE(load.warm_up(3000));
  std::map<std::string, double> previous;
  bool monotonic = true;
  std::string went_down;
  auto scrape_and_compare = [&] {
    auto now = parse_metrics(http_get(server.ready().metrics, "/metrics"));
    for (const auto& [key, value] : now) {
      if (key.find("_total") == std::string::npos && key.find("_count") == std::string::npos)
        continue;
      auto it = previous.find(key);
      if (it != previous.end() && value < it->second) {
        monotonic = false;
        went_down = key;
      }
    }
    previous = now;
  };
  scrape_and_compare();
  const auto workers = children_of(server.pid());
  REQUIRE(!workers.empty());
  ::kill(workers.front(), SIGKILL);
  for (int i = 0; i < 30; ++i) {
    scrape_and_compare();
    std::this_thread::sleep_for(
        std::chrono::milliseconds(20));  // spacing between scrapes, not a wait
  }
  load.stop();
  scrape_and_compare();
  const std::string hello =
      "grpc_method=\"SayHello\",grpc_service=\"helloworld.Greeter\",grpc_type=\"unary\"";
  const double handled_ok =
      metric(previous, "grpc_server_handled_total{grpc_code=\"OK\"," + hello + "}");
  INFO(load.report() << "; server counted " << handled_ok
                     << " OK; a counter that went down: " << went_down);
  CHECK(handled_ok >= static_cast<double>(load.ok()));
  CHECK(monotonic);
}

TEST_CASE("under load, access-log lines from every worker arrive whole, one per RPC",
          "[observability][access-log]") {
  for (const bool to_pipe : {false, true}) {
    DYNAMIC_SECTION((to_pipe ? "to a pipe (stdout)" : "to a file")) {
      TempDir dir;
      const std::string log_file = dir.file("access.log");
      // For the pipe case stdout is the server log file itself, reached through `| cat`.
      ServerProcess server(
          to_pipe ? std::string("/bin/sh") : binary_path("GRYPHON_DRILL_SERVER"),
          to_pipe ? std::vector<std::string>{"-c", "\"$0\" \"$@\" | cat",
                                             binary_path("GRYPHON_DRILL_SERVER"), "--listen",
                                             "127.0.0.1:0", "--workers", "2", "--metrics-address",
                                             "127.0.0.1:0", "--access-log", "-",
                                             "--access-log-format", "json"}
                  : std::vector<std::string>{"--listen", "127.0.0.1:0", "--workers", "2",
                                             "--metrics-address", "127.0.0.1:0", "--access-log",
                                             log_file, "--access-log-format", "json"});
      server.wait_ready();
      LoadGenerator load({.target = server.target(), .connections = 8, .in_flight = 64});
      load.start();
      REQUIRE(load.wait_for_ok(20000, std::chrono::seconds(30)));
      load.stop();
      const double handled =
          metric(parse_metrics(http_get(server.ready().metrics, "/metrics")),
                 "grpc_server_handled_total{grpc_code=\"OK\",grpc_method=\"SayHello\","
                 "grpc_service=\"helloworld.Greeter\",grpc_type=\"unary\"}");
      auto access_lines = [&] {
        std::size_t count = 0;
        for (const auto& line : lines_of(to_pipe ? server.log() : read_file(log_file)))
          count += line.rfind("{\"time\"", 0) == 0;
        return count;
      };
      REQUIRE(wait_until([&] { return access_lines() >= handled; }, std::chrono::seconds(10)));
      const std::string text = to_pipe ? server.log() : read_file(log_file);
      std::size_t broken = 0, whole = 0;
      for (const auto& line : lines_of(text)) {
        if (line.find("grpc.service") == std::string::npos) continue;  // server log lines
        const bool ok = line.rfind("{\"time\"", 0) == 0 && line.back() == '}' &&
                        line.find("{\"time\"", 1) == std::string::npos;
        (ok ? whole : broken) += 1;
      }
      std::cout << "access log " << (to_pipe ? "to a pipe" : "to a file") << ": " << whole
                << " whole lines, " << broken << " broken, for " << handled << " RPCs\n";
      CHECK(broken == 0);
      CHECK(whole == static_cast<std::size_t>(handled));
      CHECK(handled >= 20000);
    }
  }
}

namespace {

// Sends raw bytes to host:port and returns the status line of the reply.
std::string raw_http(const std::string& host_port, const std::string& request) {
  const auto colon = host_port.rfind(':');
  const int fd = ::socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
  sockaddr_in addr{};
  addr.sin_family = AF_INET;
  addr.sin_port = htons(static_cast<uint16_t>(std::stoi(host_port.substr(colon + 1))));
  ::inet_pton(AF_INET, host_port.substr(0, colon).c_str(), &addr.sin_addr);
  timeval tv{10, 0};
  ::setsockopt(fd, SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof(tv));
  if (::connect(fd, reinterpret_cast<sockaddr*>(&addr), sizeof(addr)) != 0) {
    ::close(fd);
    return "connect failed";
  }
  (void)!::write(fd, request.data(), request.size());
  std::string response;
  char buffer[4096];
  ssize_t n;
  while ((n = ::read(fd, buffer, sizeof(buffer))) > 0)
    response.append(buffer, static_cast<std::size_t>(n));
  ::close(fd);
  return response.substr(0, response.find("\r\n"));
}

}  // namespace

TEST_CASE("calls to methods the server lacks count as Unimplemented, with a bounded label set",
          "[observability][metrics]") {
  ServerProcess server(
      binary_path("GRYPHON_DRILL_SERVER"),
      {"--listen", "127.0.0.1:0", "--workers", "1", "--metrics-address", "127.0.0.1:0"});
  server.wait_ready();
  for (int i = 0; i < 3; ++i)
    REQUIRE(call_path(server.target(), "/helloworld.Greeter/Nope").error_code() ==
            grpc::StatusCode::UNIMPLEMENTED);
  const grpc::Status no_service = call_path(server.target(), "/no.such.Service/Thing");
  CHECK(no_service.error_code() == grpc::StatusCode::UNIMPLEMENTED);
  CHECK(no_service.error_message() == "unknown service no.such.Service");
  // A scanner: 100 made-up services, and paths that are no proto name at all.
  for (int i = 0; i < 100; ++i) {
    REQUIRE(call_path(server.target(), "/scan.S" + std::to_string(i) + "/M").error_code() ==
            grpc::StatusCode::UNIMPLEMENTED);
  }
  // Not a proto name, and characters a label must escape. (A space would be refused before gRPC
  // by the native transport: nghttp2 holds :path to RFC 9113, and the client sees RST_STREAM.)
  CHECK(call_path(server.target(), "/not-a-{service}/x\"y").error_code() ==
        grpc::StatusCode::UNIMPLEMENTED);
  const std::string text = http_get(server.ready().metrics, "/metrics");
  const auto m = parse_metrics(text);
  auto handled = [](const std::string& method, const std::string& service) {
    return "grpc_server_handled_total{grpc_code=\"Unimplemented\",grpc_method=\"" + method +
           "\",grpc_service=\"" + service + "\",grpc_type=\"unknown\"}";
  };
  INFO(text);
  CHECK(metric(m, handled("Nope", "helloworld.Greeter")) == 3);
  CHECK(metric(m, handled("Thing", "no.such.Service")) == 1);
  CHECK(metric(m,
               "grpc_server_started_total{grpc_method=\"Nope\",grpc_service=\"helloworld.Greeter\","
               "grpc_type=\"unknown\"}") == 3);
  double unknown_calls = 0;
  int unknown_rows = 0;
  for (const auto& [key, value] : m) {
    if (key.rfind("grpc_server_handled_total{grpc_code=\"Unimplemented\"", 0) == 0 &&
        key.find("grpc_type=\"unknown\"") != std::string::npos) {
      unknown_calls += value;
      ++unknown_rows;
    }
  }
  CHECK(unknown_calls == 105);
  CHECK(unknown_rows <= 32);  // the rest share one row
  // 31 names get rows (Nope, Thing, scan.S0..S28); the 71 later scans and the bad path share
  // `unknown`.
  CHECK(metric(m, handled("M", "scan.S28")) == 1);
  CHECK(metric(m, handled("M", "scan.S29")) == 0);
  CHECK(metric(m, handled("unknown", "unknown")) == 72);
  CHECK(text.find("not-a") == std::string::npos);
}

TEST_CASE("the metrics endpoint answers only GET /metrics and bounds what it reads",
          "[observability][metrics]") {
  ServerProcess server(
      binary_path("GRYPHON_DRILL_SERVER"),
      {"--listen", "127.0.0.1:0", "--workers", "1", "--metrics-address", "127.0.0.1:0"});
  server.wait_ready();
  const std::string at = server.ready().metrics;
  CHECK(raw_http(at, "GET /metrics HTTP/1.1\r\nHost: x\r\n\r\n") == "HTTP/1.1 200 OK");
  CHECK(raw_http(at, "GET / HTTP/1.1\r\nHost: x\r\n\r\n") == "HTTP/1.1 404 Not Found");
  CHECK(raw_http(at, "POST /metrics HTTP/1.1\r\nHost: x\r\nContent-Length: 0\r\n\r\n") ==
        "HTTP/1.1 405 Method Not Allowed");
  CHECK(raw_http(at, "GET /metrics HTTP/1.1\r\nX-Big: " + std::string(20000, 'a') + "\r\n\r\n") ==
        "HTTP/1.1 431 Request Header Fields Too Large");
  CHECK(raw_http(at, std::string("\x16\x03\x01\x02\x00garbage\r\n\r\n", 16)) ==
        "HTTP/1.1 405 Method Not Allowed");
  // The master is unharmed and still serves scrapes.
  CHECK(metric(parse_metrics(http_get(at, "/metrics")), "gryphon_workers_ready") == 1);
}
