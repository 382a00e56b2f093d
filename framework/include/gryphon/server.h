// gryphon::Server: the one object a service's main() builds.
//
//   int main(int argc, char** argv) {
//     gryphon::Server server("greeter");
//     server.add_service<GreeterImpl>();             // created in each worker, after fork
//     return server.run(argc, argv);                 // blocks; returns the process exit code
//   }
//
// run() parses the configuration (flags, GRYPHON_* environment, TOML file), binds the listening
// sockets and becomes the master: it forks `--workers` worker processes, each of which creates the
// registered services and interceptors, starts its transport (`--transport native`, the default:
// gryphon's own HTTP/2 on event loops; or `grpc`: gRPC C++) and accepts connections from the
// shared sockets. The master itself never touches gRPC. With `--workers 0` one process does both.
//
// Everything registered here is a factory, so no service object is ever created in the master.
// Registration must finish before run(); the Server is not thread-safe.
#pragma once

#include <functional>
#include <memory>
#include <string>
#include <type_traits>
#include <vector>

#include "gryphon/handler.h"

namespace gryphon {

class Interceptor;

namespace internal {
// The built-in interceptors (request id, access log, metrics) live in their own library above the
// core; run() below passes them in, so the core never depends on that library.
struct BuiltinsProvider;
const BuiltinsProvider& builtin_interceptors();
}  // namespace internal

struct ServiceOptions {
  // Run unary handlers on the thread that read the call, with no thread hop: the connection's I/O
  // loop (native) or the completion-queue thread (grpc). Only for handlers that never block; a
  // blocked one stalls every connection of that loop. Streaming handlers always run on the pool.
  bool inline_handlers = false;
};

using HandlerFactory = std::function<std::unique_ptr<Handler>()>;
using InterceptorFactory = std::function<std::unique_ptr<Interceptor>()>;

struct ServiceRegistration {
  ServiceInfo info;
  HandlerFactory factory;
  ServiceOptions options;
};

// Lifecycle hooks. before_fork runs in the master before each fork (no gRPC there);
// on_worker_start runs in a worker before it accepts traffic (open pools, warm caches): if it
// throws, the worker reports the error and exits, and a start-up crash loop stops the instance.
// on_worker_stop runs in a worker after its transport has stopped (no call runs any more).
struct Hooks {
  std::vector<std::function<void()>> before_fork;
  std::vector<std::function<void(int slot)>> on_worker_start;
  std::vector<std::function<void(int slot)>> on_worker_stop;
};

class Server {
 public:
  explicit Server(std::string name);
  ~Server();
  Server(const Server&) = delete;
  Server& operator=(const Server&) = delete;

  // Registers a service implemented by Impl (a class deriving from a generated <Service>Handler).
  // Impl is constructed with `args` (copied) in every worker.
  template <class Impl, class... Args>
  Server& add_service(ServiceOptions options = {}, Args... args) {
    static_assert(std::is_base_of_v<Handler, Impl>, "Impl must implement a generated handler");
    return add_service(
        Impl::gryphon_info(),
        [args...]() -> std::unique_ptr<Handler> { return std::make_unique<Impl>(args...); },
        options);
  }
  Server& add_service(ServiceInfo info, HandlerFactory factory, ServiceOptions options = {});

  // Appends an interceptor to the chain (first added runs its on_start first).
  template <class I, class... Args>
  Server& add_interceptor(Args... args) {
    return add_interceptor(
        [args...]() -> std::unique_ptr<Interceptor> { return std::make_unique<I>(args...); });
  }
  Server& add_interceptor(InterceptorFactory factory);

  Server& before_fork(std::function<void()> hook);
  Server& on_worker_start(std::function<void(int slot)> hook);
  Server& on_worker_stop(std::function<void(int slot)> hook);

  // Parses the configuration and serves until stopped. Returns 0 after a graceful stop, 2 for a
  // configuration error, 1 for a start-up failure or an immediate stop.
  int run(int argc, char** argv) { return run(argc, argv, internal::builtin_interceptors()); }

  const std::string& name() const { return name_; }

 private:
  // The built-in interceptors come from the library above the core (gryphon_interceptors); the
  // inline run() above passes them in, so the core never links against it.
  int run(int argc, char** argv, const internal::BuiltinsProvider& builtins);

  std::string name_;
  std::vector<ServiceRegistration> services_;
  std::vector<InterceptorFactory> interceptors_;
  Hooks hooks_;
};

}  // namespace gryphon
