// The two systemd contracts gryphon speaks, without linking libsystemd:
// sd_notify (READY=1 once the instance is ready, RELOADING=1 during a rolling restart, STOPPING=1,
// MAINPID= from a binary-upgrade successor) and socket activation (LISTEN_FDS/LISTEN_PID).
// Both are no-ops when systemd did not set the variables. Only the master notifies.
#pragma once

#include <string>
#include <vector>

namespace gryphon::internal::systemd {

// Sends `state` (e.g. "READY=1\nSTATUS=serving") to $NOTIFY_SOCKET if set. Never fails the caller.
void notify(const std::string& state);

// The sockets systemd passed to this process (fds 3..3+LISTEN_FDS-1 when LISTEN_PID is our pid),
// marked close-on-exec and non-blocking; the variables are then removed from the environment so
// workers and successors do not mistake them for their own.
std::vector<int> take_listen_fds();

}  // namespace gryphon::internal::systemd
