#include "config/listen_address.h"

#include <sys/un.h>

#include <charconv>
#include <stdexcept>

namespace gryphon::internal {

ListenAddress ListenAddress::parse(const std::string& text) {
  ListenAddress address;
  if (text.rfind("unix:", 0) == 0) {
    address.kind = Kind::kUnix;
    address.path = text.substr(5);
    if (address.path.empty())
      throw std::invalid_argument("'" + text + "' names no socket path (unix:/path)");
    if (address.path.size() >= sizeof(sockaddr_un::sun_path)) {
      throw std::invalid_argument("unix socket path '" + address.path + "' is longer than " +
                                  std::to_string(sizeof(sockaddr_un::sun_path) - 1) + " bytes");
    }
    return address;
  }
  std::string port_text;
  if (!text.empty() && text[0] == '[') {
    const auto close = text.find(']');
    if (close == std::string::npos || close + 1 >= text.size() || text[close + 1] != ':') {
      throw std::invalid_argument("'" + text + "' is not [ipv6]:port");
    }
    address.host = text.substr(1, close - 1);
    port_text = text.substr(close + 2);
  } else {
    const auto colon = text.rfind(':');
    if (colon == std::string::npos) {
      throw std::invalid_argument("'" + text +
                                  "' has no port; use host:port, [v6]:port or unix:/path");
    }
    address.host = text.substr(0, colon);
    port_text = text.substr(colon + 1);
    if (address.host.find(':') != std::string::npos) {
      throw std::invalid_argument("'" + text +
                                  "': put IPv6 addresses in brackets, e.g. [::1]:50051");
    }
  }
  if (address.host.empty())
    throw std::invalid_argument("'" + text + "' has no host; use e.g. 0.0.0.0:" + port_text);
  unsigned long port = 0;
  auto [end, ec] = std::from_chars(port_text.data(), port_text.data() + port_text.size(), port);
  if (port_text.empty() || ec != std::errc() || end != port_text.data() + port_text.size() ||
      port > 65535) {
    throw std::invalid_argument("port '" + port_text + "' in '" + text +
                                "' is not a number from 0 to 65535");
  }
  address.port = static_cast<std::uint16_t>(port);
  return address;
}

std::string ListenAddress::to_string() const {
  if (is_unix()) return "unix:" + path;
  if (host.find(':') != std::string::npos) return "[" + host + "]:" + std::to_string(port);
  return host + ":" + std::to_string(port);
}

}  // namespace gryphon::internal
