// The main thread's part of a gryphon-bench run: divide the load among worker threads, start
// them, print a progress line each second on stderr, take the CPU readings that bracket the
// measured window (this process, and the --server-pid processes), and merge the workers' results
// into one RunReport once they are done.
#pragma once

#include <grpcpp/channel.h>

#include <memory>
#include <string>
#include <vector>

#include "load_options.h"
#include "load_worker.h"
#include "report.h"

namespace gryphon::bench {

// Divides connections, RPCs in flight, rate and request count among options.threads workers.
// Every worker schedules from `start`; the measured window opens after the warm-up.
std::vector<WorkerPlan> plan_workers(const LoadOptions& options,
                                     const std::vector<std::shared_ptr<grpc::Channel>>& channels,
                                     const std::string& payload, Clock::time_point start);

// Runs the plans to the end, one thread each, and reports on them.
RunReport run_workers(const LoadOptions& options, std::vector<WorkerPlan> plans,
                      std::size_t payload_bytes);

}  // namespace gryphon::bench
