// ListenAddress: one parsed `--listen` value ("host:port", "[v6]:port" or "unix:/path").
// Parsing is pure and throws std::invalid_argument with a message fit for the user, so it serves
// both configuration validation and the master's binding.
#pragma once

#include <cstdint>
#include <string>

namespace gryphon::internal {

struct ListenAddress {
  enum class Kind { kTcp, kUnix };
  Kind kind = Kind::kTcp;
  std::string host;  // without brackets for IPv6
  std::uint16_t port = 0;
  std::string path;  // for kUnix

  static ListenAddress parse(const std::string& text);
  bool is_unix() const { return kind == Kind::kUnix; }
  // "127.0.0.1:50051", "[::1]:50051" or "unix:/run/app.sock".
  std::string to_string() const;
};

}  // namespace gryphon::internal
