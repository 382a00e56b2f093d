// The generator's connections: one gRPC channel per TCP connection, opened before the load starts.
//
// By default (--connect direct) gryphon-bench opens each TCP connection itself, sets TCP_NODELAY as
// gRPC's own connector does, and hands the socket to gRPC. Such a channel has no resolver, load
// balancer or retry layer in front of the transport, which measurably lowers the generator's CPU
// per RPC (bench/README.md); it cannot reconnect, which a benchmark does not want anyway.
// --connect resolver gives ordinary gRPC channels for any target URI: each carries its index as a
// channel argument, since channels with identical arguments would share one TCP connection.
#pragma once

#include <grpcpp/channel.h>

#include <memory>
#include <string>
#include <vector>

#include "load_options.h"

namespace gryphon::bench {

// Opens options.connections channels and waits until each is connected (within
// options.connect_timeout_seconds). Returns an empty vector with `error` set on failure.
std::vector<std::shared_ptr<grpc::Channel>> open_connections(const LoadOptions& options,
                                                             std::string* error);

}  // namespace gryphon::bench
