// Request payloads for gryphon-bench: the named scenarios (serialized gryphon.bench.EchoRequest
// messages) and the gRPC length-prefixed framing h2load needs as a request body.
#pragma once

#include <optional>
#include <string>
#include <string_view>
#include <vector>

namespace gryphon::bench {

// Names accepted by --scenario, in the order the help text lists them.
const std::vector<std::string>& scenario_names();

// The serialized EchoRequest of a named scenario, or nullopt for an unknown name.
//   string_100B   `message` holds 100 bytes of text
//   string_1kB    `message` holds 1000 bytes of text
//   complex_proto `complex` holds grpc_bench's complex_proto value (scalars, a oneof, two pets)
std::optional<std::string> scenario_payload(std::string_view name);

// One gRPC message frame: a zero compression flag, the big-endian length, then the bytes.
std::string grpc_frame(std::string_view message);

}  // namespace gryphon::bench
