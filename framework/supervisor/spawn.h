// Forking a worker: what the child needs from the master, and what the master keeps.
//
// fork_worker() runs the before_fork hooks, refuses to fork if gRPC was initialised in the master
// (the workers would crash or hang), makes the control socketpair and forks. The child closes
// every descriptor not meant for it (other workers' control sockets, the master's signalfd,
// epoll, metrics sockets and segments), sets PR_SET_PDEATHSIG, re-checks its parent and runs the
// worker; it never returns.
#pragma once

#include <sys/types.h>

#include "worker/worker.h"

namespace gryphon::internal {

struct ForkedWorker {
  pid_t pid = 0;        // 0: the fork failed (logged)
  int control_fd = -1;  // the master's end of the control socketpair
};

// `launch` is what every worker gets (its slot and max_requests are filled in for this one).
ForkedWorker fork_worker(const WorkerSpec& launch, int slot);

}  // namespace gryphon::internal
