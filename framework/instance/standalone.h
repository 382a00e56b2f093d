// Standalone: the whole instance in one process (--workers 0), for development and for platforms
// that supervise processes themselves.
//
// The process prepares the instance as a master would (instance.h), serves /metrics itself from a
// one-slot store, and runs one worker whose host (StandaloneHost) gives the signals their
// instance meaning: TERM or INT turn health NOT_SERVING, serve on for drain-delay, then drain
// (a second INT stops at once); HUP is refused, there being no worker to replace.
#pragma once

#include "worker/worker.h"

namespace gryphon::internal {

// Returns the process exit code (0 graceful, 1 start-up failure).
int run_standalone(const WorkerSpec& spec_template);

}  // namespace gryphon::internal
