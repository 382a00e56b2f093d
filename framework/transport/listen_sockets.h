// Listening sockets owned by the master.
//
// The master binds every `--listen` address before it forks, non-blocking and close-on-exec, and
// keeps them open for its whole life so that connections arriving while a worker restarts wait in
// the backlog instead of being refused. Workers inherit the descriptors and accept from them.
// SO_REUSEPORT is never set: a second server on the same address must fail, not share the port.
#pragma once

#include <string>
#include <vector>

#include "config/listen_address.h"

namespace gryphon::internal {

struct ListenSocket {
  std::string configured;  // the --listen text it came from, e.g. "127.0.0.1:0"
  ListenAddress bound;     // what it is bound to (the real port when 0 was asked for)
  int fd = -1;
};

// Binds and listens. Throws std::runtime_error with a message that names the address and what to
// do (e.g. "127.0.0.1:50051 is already in use: stop the other server or pick another --listen").
ListenSocket bind_listener(const std::string& configured, unsigned unix_mode);

// The address a bound socket actually has.
ListenAddress bound_address(int fd, const ListenAddress& requested);

// For a binary upgrade: sockets handed to a new master through the environment, as
// "configured=fd;configured=fd". adopt_listeners() takes those matching `configured` and binds the
// rest.
std::string describe_for_inheritance(const std::vector<ListenSocket>& sockets);
std::vector<ListenSocket> adopt_listeners(const std::vector<std::string>& configured,
                                          unsigned unix_mode, const char* inherited);

// Sockets passed in by a supervisor (systemd socket activation): each becomes a listener named by
// the address it is bound to.
std::vector<ListenSocket> passed_listeners(const std::vector<int>& fds);

void close_listeners(std::vector<ListenSocket>& sockets);

}  // namespace gryphon::internal
