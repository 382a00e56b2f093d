// Start-up and readiness of a whole gryphon instance, shared by its two shapes: a master with
// pre-forked workers (supervisor/) and one process serving alone (--workers 0, standalone.h).
//
// prepare_instance() does what must hold before anything serves: the open-file limit, a free
// pid file, and the listening sockets (systemd's, inherited from a binary upgrade's predecessor,
// or bound now). announce_ready() says the instance is ready, once, the same way for both: one
// log line `ready listen=… metrics=… workers=N pid=…`, READY=1 to systemd, the pid file.
#pragma once

#include <optional>
#include <string>
#include <vector>

#include "config/config.h"
#include "os/pid_file.h"
#include "transport/listen_sockets.h"

namespace gryphon::internal {

// Throws std::runtime_error saying what to change. `inherited` describes sockets handed over by a
// binary upgrade ("" for none).
std::vector<ListenSocket> prepare_instance(const Config& config, const std::string& inherited);

// `metrics` is the endpoint's bound address or "off"; `successor`: tell systemd this process is
// the main pid now (after a binary upgrade). `pid_file` then holds the pid file, if configured.
void announce_ready(const Config& config, const std::vector<ListenSocket>& listeners,
                    const std::string& metrics, int workers, bool successor,
                    std::optional<PidFile>& pid_file);

// "127.0.0.1:50051,unix:/run/x.sock": the bound addresses, for logs.
std::string describe_listeners(const std::vector<ListenSocket>& listeners);

}  // namespace gryphon::internal
