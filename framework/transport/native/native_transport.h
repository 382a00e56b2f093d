// The native transport: gRPC over HTTP/2 implemented by gryphon on nghttp2 (framing, HPACK, flow
// control) and Asio, behind the Transport seam (transport.h). `--transport native`.
//
// One I/O thread owns every connection of the worker (its own Asio loop): it reads, feeds
// nghttp2, and writes what nghttp2 produced during that turn in one write. Inline unary handlers
// run on that thread; the rest run on the dispatcher's pool and hop back to it to answer. Streams
// block their pool thread on each read and write until the I/O thread has moved the message.
//
// First step, experimental: plaintext (h2c) only — TLS is refused at start; requests and
// responses of every RPC kind, grpc-timeout deadlines, metadata (-bin decoded), gzip/deflate
// both ways, Trailers-Only answers, RST_STREAM on cancel, a two-step GOAWAY on drain. Not yet:
// TLS, idle/age/keepalive policies, handshake timeout, write coalescing across connections.
#pragma once

#include <memory>

#include "config/config.h"
#include "dispatch/dispatcher.h"
#include "transport/transport.h"

namespace gryphon::internal {

std::unique_ptr<Transport> make_native_transport(const Config& config, Dispatcher& dispatcher);

}  // namespace gryphon::internal
