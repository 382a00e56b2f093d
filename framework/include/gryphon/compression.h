// gryphon::Compression: how a response's messages are compressed on the wire (gRPC's
// `grpc-encoding`), as a handler asks for it with Context::set_compression().
#pragma once

namespace gryphon {

enum class Compression { kNone, kDeflate, kGzip };

}  // namespace gryphon
