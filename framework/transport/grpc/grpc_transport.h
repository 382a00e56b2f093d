// The gRPC C++ transport: gRPC 1.51's server behind the Transport seam (the compatibility
// transport; see transport.h).
//
// Connections accepted by the worker are handed to gRPC through ServerBuilder's external
// connection acceptor (one plaintext acceptor for unix sockets and the readiness check, one with
// the master's TLS credentials for TCP when TLS is configured), which keeps real peer addresses.
// gryphon's options map to gRPC channel arguments here. Its completion-queue threads run the call
// objects of grpc_calls.h. A connection offered after Shutdown began would leak, so the worker
// stops accepting before stop(); gRPC cannot send its own GOAWAY on demand, so a drain relies on
// max-connection-age rotating clients away.
#pragma once

#include <boost/asio/io_context.hpp>
#include <memory>

#include "config/config.h"
#include "dispatch/dispatcher.h"
#include "transport/tls.h"
#include "transport/transport.h"

namespace gryphon::internal {

// `io`: the worker's main loop, on which connection closes are watched.
std::unique_ptr<Transport> make_grpc_transport(const Config& config, const TlsMaterial& tls,
                                               Dispatcher& dispatcher, boost::asio::io_context& io);

}  // namespace gryphon::internal
