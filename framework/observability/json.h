// JSON string escaping, shared by the server log's JSON format and the access log: the one
// escaper gryphon has. It copies runs that need no escaping whole and checks eight bytes at a time
// (it sees every byte of every logged value, on the RPC path).
#pragma once

#include <string>
#include <string_view>

namespace gryphon::internal {

// Appends `value` as a JSON string, quotes included.
void append_json_string(std::string& out, std::string_view value);

}  // namespace gryphon::internal
