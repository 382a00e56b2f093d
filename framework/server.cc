#include "gryphon/server.h"

#include <unistd.h>

#include <cstdio>
#include <iostream>

#include "gryphon/interceptor.h"
#include "listener.h"
#include "logging.h"
#include "master.h"
#include "pid_file.h"
#include "systemd.h"
#include "tls.h"
#include "process.h"
#include "metrics_store.h"
#include "worker.h"

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

int Server::run(int argc, char** argv) {
  // Keep the command line before the process title overwrites argv's memory.
  std::vector<std::string> args(argv, argv + argc);
  ParseResult parsed = parse_config(argc, argv, name_);
  if (!parsed.config) {
    (parsed.exit_code == 0 ? std::cout : std::cerr) << parsed.message << std::endl;
    return parsed.exit_code;
  }
  Config& config = *parsed.config;
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
    log::setup(config, config.workers == 0 ? log::Role::kStandalone : log::Role::kMaster);
  } catch (const std::exception& e) {
    std::cerr << "error: " << e.what() << std::endl;
    return 2;
  }
  internal::init_process_title(argc, argv);

  if (config.workers == 0) {
    std::vector<ListenSocket> listeners;
    try {
      const std::uint64_t files = internal::raise_open_file_limit();
      if (files < static_cast<std::uint64_t>(config.max_open_files)) {
        throw std::runtime_error("the open-file limit is " + std::to_string(files) + " but --max-open-files asks for " +
                                 std::to_string(config.max_open_files) +
                                 ": raise the hard limit (ulimit -Hn) or lower --max-open-files");
      }
      if (!config.pid_file.empty()) internal::PidFile::ensure_free(config.pid_file);
      if (const std::vector<int> passed = internal::systemd::take_listen_fds(); !passed.empty()) {
        listeners = passed_listeners(passed);
      } else {
        for (const auto& text : config.listen) listeners.push_back(bind_listener(text, config.unix_socket_mode));
      }
    } catch (const std::exception& e) {
      log::process()->error("{}", e.what());
      close_listeners(listeners);
      return 1;
    }
    // With no master, this process serves /metrics itself, from a one-slot store.
    std::unique_ptr<internal::MetricsStore> store;
    if (!config.metrics_address.empty()) {
      store = internal::make_metrics_store(services_);
      store->ensure_slot(0);
    }
    internal::WorkerSpec spec{config, tls, listeners, services_, interceptors_, hooks_, name_, 0, -1, 0, store.get()};
    const int code = internal::run_worker(spec);
    close_listeners(listeners);
    return code;
  }

  char executable[4096] = {};
  const ssize_t n = ::readlink("/proc/self/exe", executable, sizeof(executable) - 1);
  internal::MasterSpec spec{config, tls, args, n > 0 ? std::string(executable, static_cast<std::size_t>(n)) : args[0],
                            name_, services_, interceptors_, hooks_};
  return internal::run_master(std::move(spec));
}

}  // namespace gryphon
