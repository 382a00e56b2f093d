// The service fuzz_h2_connection's sessions serve, and the Configs it runs them with.
//
// fuzz.Echo (handlers on the pool): Echo (unary), Repeat (server streaming: request[0] % 8 copies),
// Sum (client streaming: the count), Chat (bidi: each message back). fuzz.Inline: Echo, inline on
// the I/O thread. Every method reads request metadata: x-compress (gzip|deflate) compresses the
// response, x-echo[-bin] values and x-peer come back in the response headers, x-status (decimal,
// mod 17) is the status, x-throw throws, x-headers-first (Chat) sends the headers before reading.
// Responses are cut short so that the output bound measures the transport, not this service.
#pragma once

#include <vector>

#include "config/config.h"
#include "dispatch/dispatcher.h"

namespace gryphon::fuzz {

using internal::Config;
using internal::Duration;

// The service's handlers now inside a RawStream call (read, write, send_initial_metadata), which
// may wait on the client.
int handlers_waiting();

std::vector<internal::Dispatcher::Service> test_services();

// 0: the defaults; 1: tight limits (64-byte requests, 32-byte responses, 512 bytes of metadata,
// 2 streams); 2: pings welcome, 1 stream; 3: 64 KiB of metadata, a 50 ms stream idle timeout and
// 3 calls a second per connection.
Config test_config(int variant);

}  // namespace gryphon::fuzz
