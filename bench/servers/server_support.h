// Scaffolding shared by the raw gRPC C++ baseline servers (bench_raw_async, bench_raw_callback,
// bench_raw_sync): their flags, the signal protocol and the lines they print for bench/compare.py.
// A baseline prints `listening on HOST:PORT` once it accepts RPCs, `ok_rpcs N` (the RPCs it has
// answered with OK so far) on SIGUSR1, and `ok_rpcs N` again after a clean stop on SIGTERM or
// SIGINT. The count lets a run driven by a client that ignores grpc-status (h2load) be checked
// against the server's own view.
//
// Threading: block_server_signals() must run on the main thread before anything starts a thread
// (gRPC included), so every thread inherits the mask and only serve_until_stopped() sees the
// signals; the main thread then shuts the server down itself.
#pragma once

#include <cstdint>
#include <functional>
#include <string>

#include "echo.pb.h"

namespace grpc {
class Service;
}

namespace gryphon::bench {

struct ServerFlags {
  std::string listen = "127.0.0.1:50051";
  int threads = 1;   // completion queues, one polling thread each (async server only)
  int prepost = 16;  // requests posted per completion queue (async server only)
};

// Parses argv. With async_flags false, --threads and --prepost are not accepted. On --help prints
// usage and exits 0; on a bad flag prints a message naming it and exits 2.
ServerFlags parse_server_flags(int argc, char** argv, const std::string& description,
                               bool async_flags);

// Blocks SIGINT, SIGTERM and SIGUSR1 for the calling thread and every thread it starts later.
void block_server_signals();

// Waits for the signals block_server_signals() blocked: on SIGUSR1 prints `ok_rpcs N` with the
// count ok_rpcs() returns and goes on waiting; returns on SIGINT or SIGTERM.
void serve_until_stopped(const std::function<std::uint64_t()>& ok_rpcs);

// Prints `listening on HOST:PORT` with the host part of `listen` and the bound port, and flushes.
void announce_listening(const std::string& listen, int port);

// Prints `ok_rpcs N` and flushes.
void announce_ok_rpcs(std::uint64_t count);

// The handler body every baseline shares: copies the request's content into the response.
inline void echo(const EchoRequest& request, EchoResponse* response) {
  response->set_message(request.message());
  if (request.has_complex()) {
    *response->mutable_complex() = request.complex();
  }
}

// For servers whose service runs on gRPC's own threads (callback and sync API): listens on
// flags.listen, announces the port, serves until SIGINT/SIGTERM, shuts down and prints the final
// OK count. Returns the exit code.
int serve_service(grpc::Service& service, const ServerFlags& flags, const char* program,
                  const std::function<std::uint64_t()>& ok_rpcs);

}  // namespace gryphon::bench
