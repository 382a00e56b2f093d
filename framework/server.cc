#include "gryphon/server.h"

#include <unistd.h>

#include <cstdio>
#include <iostream>

#include "gryphon/interceptor.h"
#include "observability/logging.h"
#include "os/process.h"
#include "instance/standalone.h"
#include "supervisor/master.h"
#include "transport/tls.h"
#include "worker/worker.h"

namespace gryphon {

Server::Server(std::string name) : name_(std::move(name)) {}
Server::~Server() = default;

Server& Server::add_service(ServiceInfo info, HandlerFactory factory, ServiceOptions options) {
  services_.push_back(ServiceRegistration{std::move(info), std::move(factory), options});
  return *this;
}

Server& Server::add_interceptor(InterceptorFactory factory) {
  interceptors_.push_back(std::move(factory));
  return *this;
}

Server& Server::before_fork(std::function<void()> hook) {
  hooks_.before_fork.push_back(std::move(hook));
  return *this;
}

Server& Server::on_worker_start(std::function<void(int)> hook) {
  hooks_.on_worker_start.push_back(std::move(hook));
  return *this;
}

Server& Server::on_worker_stop(std::function<void(int)> hook) {
  hooks_.on_worker_stop.push_back(std::move(hook));
  return *this;
}

int Server::run(int argc, char** argv, const internal::BuiltinsProvider& builtins) {
  // Keep the command line before the process title overwrites argv's memory.
  std::vector<std::string> args(argv, argv + argc);
  internal::ParseResult parsed = internal::parse_config(argc, argv, name_);
  if (!parsed.config) {
    (parsed.exit_code == 0 ? std::cout : std::cerr) << parsed.message << std::endl;
    return parsed.exit_code;
  }
  internal::Config& config = *parsed.config;
  internal::TlsMaterial tls;
  try {
    tls = internal::load_tls(config);
  } catch (const std::invalid_argument& e) {
    std::cerr << "error: " << e.what() << std::endl;
    return 2;
  }
  if (parsed.check_only) {
    std::cout << "configuration is valid" << std::endl;
    return 0;
  }
  try {
    internal::log::setup(config, config.workers == 0 ? internal::log::Role::kStandalone
                                                     : internal::log::Role::kMaster);
  } catch (const std::exception& e) {
    std::cerr << "error: " << e.what() << std::endl;
    return 2;
  }
  internal::init_process_title(argc, argv);

  if (config.workers == 0) {
    const std::vector<internal::ListenSocket> none;
    const internal::WorkerSpec spec{config,        tls,           none,   services_,
                                    interceptors_, builtins.make, hooks_, name_};
    return internal::run_standalone(spec);
  }

  char executable[4096] = {};
  const ssize_t n = ::readlink("/proc/self/exe", executable, sizeof(executable) - 1);
  internal::MasterSpec spec{
      config,        tls,
      args,          n > 0 ? std::string(executable, static_cast<std::size_t>(n)) : args[0],
      name_,         services_,
      interceptors_, builtins.make,
      hooks_};
  return internal::run_master(std::move(spec));
}

}  // namespace gryphon
