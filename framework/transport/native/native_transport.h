// The native transport: gRPC over HTTP/2 implemented by gryphon on nghttp2 (framing, HPACK, flow
// control) and Asio (OpenSSL for TLS with ALPN h2), behind the Transport seam (transport.h).
// `--transport native`.
//
// Each worker runs --io-threads event loops (default 1); an accepted connection goes to one loop
// round-robin and stays there. Per connection (connection.h): the socket, its timers (handshake,
// idle, max age and grace, drain) and an HTTP/2 Session (session.h) with its Streams (stream.h).
// Inline unary handlers run on the loop; the rest run on the dispatcher's pool and hop back to
// the loop to answer. What a connection produces during one turn of its loop leaves in one write.
#pragma once

#include <memory>

#include "config/config.h"
#include "dispatch/dispatcher.h"
#include "transport/tls.h"
#include "transport/transport.h"

namespace gryphon::internal {

std::unique_ptr<Transport> make_native_transport(const Config& config, const TlsMaterial& tls,
                                                 Dispatcher& dispatcher);

}  // namespace gryphon::internal
