#include "instance/standalone.h"

#include <signal.h>
#include <unistd.h>

#include <boost/asio/steady_timer.hpp>
#include <optional>

#include "instance/instance.h"
#include "observability/logging.h"
#include "observability/metrics_endpoint.h"
#include "observability/supervisor_metrics.h"
#include "os/systemd.h"

namespace gryphon::internal {
namespace {

class StandaloneHost final : public WorkerHost {
 public:
  StandaloneHost(const Config& config, const std::vector<ListenSocket>& listeners,
                 RpcMetricsStore* store)
      : config_(config), listeners_(listeners), store_(store) {}

  bool attach(boost::asio::io_context& io, WorkerControl& worker, std::string* error) override {
    worker_ = &worker;
    stop_timer_.emplace(io);
    if (store_ == nullptr) return true;
    try {
      metrics_ = std::make_unique<MetricsEndpoint>(io, config_.metrics_address,
                                                   [this] { return render(); });
    } catch (const std::exception& e) {
      *error = e.what();
      return false;
    }
    return true;
  }

  void report(const control::WorkerMessage& message) override {
    if (!std::holds_alternative<control::Ready>(message)) return;
    ready_ = true;
    announce_ready(config_, listeners_, metrics_ ? metrics_->address() : "off", 0, false,
                   pid_file_);
  }

  void on_signal(int signal) override {
    if (signal == SIGHUP) {
      log::process()->warn("SIGHUP ignored: a rolling restart needs --workers 1 or more");
    } else if (signal == SIGINT && stopping_) {
      std::_Exit(1);  // a second Ctrl-C
    } else if (signal == SIGTERM || signal == SIGINT) {
      stop();
    }
  }

  bool supervised() const override { return false; }

  void detach() override {
    metrics_.reset();
    stop_timer_.reset();
  }

 private:
  void stop() {
    if (stopping_) return;
    stopping_ = true;
    systemd::notify("STOPPING=1");
    log::process()->info(
        "stopping: health is NOT_SERVING, serving on for drain-delay {}ms, then draining",
        config_.drain_delay.count());
    worker_->set_serving(false);
    stop_timer_->expires_after(config_.drain_delay);
    stop_timer_->async_wait([this](const boost::system::error_code& ec) {
      if (!ec) worker_->drain("instance stop");
    });
  }

  // No master: no restarts to count, one slot, and this process's own statistics.
  std::string render() {
    return SupervisorMetrics().render(
               1, {LiveWorker{0, ::getpid(), ready_ && !stopping_, worker_->stats()}}) +
           store_->render();
  }

  const Config& config_;
  const std::vector<ListenSocket>& listeners_;
  RpcMetricsStore* store_;
  WorkerControl* worker_ = nullptr;
  std::optional<boost::asio::steady_timer> stop_timer_;
  std::unique_ptr<MetricsEndpoint> metrics_;
  std::optional<PidFile> pid_file_;
  bool ready_ = false;
  bool stopping_ = false;
};

}  // namespace

int run_standalone(const WorkerSpec& spec_template) {
  const Config& config = spec_template.config;
  std::vector<ListenSocket> listeners;
  try {
    listeners = prepare_instance(config, "");
  } catch (const std::exception& e) {
    log::process()->error("{}", e.what());
    return 1;
  }
  // With no master, this process serves /metrics itself, from a one-slot store.
  std::unique_ptr<RpcMetricsStore> store;
  if (!config.metrics_address.empty()) {
    store = make_metrics_store(spec_template.services);
    store->ensure_slot(0);
  }
  WorkerSpec spec{config,
                  spec_template.tls,
                  listeners,
                  spec_template.services,
                  spec_template.interceptors,
                  spec_template.builtins,
                  spec_template.hooks,
                  spec_template.name,
                  0,
                  0,
                  store.get()};
  StandaloneHost host(config, listeners, store.get());
  const int code = run_worker(spec, host);
  close_listeners(listeners);
  return code;
}

}  // namespace gryphon::internal
