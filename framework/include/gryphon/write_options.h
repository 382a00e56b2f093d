// How one message of a stream is sent (sync and async streaming handlers alike).
#pragma once

namespace gryphon {

struct WriteOptions {
  // Send this message uncompressed even though the call compresses (Context::set_compression):
  // for data that does not compress, or that must not (secrets next to attacker-chosen bytes).
  bool no_compression = false;
  // The message may wait and leave together with later ones: fewer, larger writes.
  bool buffer_hint = false;
  // The stream's final message: it is held back and leaves together with the status.
  bool last_message = false;
};

}  // namespace gryphon
