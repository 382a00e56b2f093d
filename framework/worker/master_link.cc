#include "worker/master_link.h"

#include <signal.h>

#include "observability/logging.h"
#include "os/process.h"

namespace gryphon::internal {

bool MasterLink::attach(boost::asio::io_context& io, WorkerControl& worker, std::string*) {
  worker_ = &worker;
  ::signal(SIGINT, SIG_IGN);  // PR_SET_PDEATHSIG is set right after fork
  set_process_title(title_);
  channel_.emplace(io, fd_);
  channel_->start(
      [this](const std::string& line) {
        const auto command = control::parse_command(line);
        if (!command) {
          log::process()->warn("the master sent a line that is no command: '{}'", line);
          return;
        }
        switch (*command) {
          case control::Command::kNotServing: worker_->set_serving(false); break;
          case control::Command::kDrain: worker_->drain("the master asked"); break;
          case control::Command::kReopen: worker_->reopen_logs(); break;
        }
      },
      [this] { worker_->drain("the master is gone"); });
  return true;
}

void MasterLink::report(const control::WorkerMessage& message) {
  if (channel_) channel_->send(control::encode(message));
}

void MasterLink::on_signal(int signal) {
  if (signal == SIGTERM) worker_->drain("SIGTERM");
}

}  // namespace gryphon::internal
