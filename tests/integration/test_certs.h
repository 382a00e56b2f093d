// Test certificates for TLS drills, made with openssl in a TempDir.
#pragma once

#include <string>

#include "harness.h"

namespace gryphon::test {

// A self-signed CA `ca`: dir/ca.pem and dir/ca.key.
void make_ca(const TempDir& dir, const std::string& ca);
// A certificate `name` for localhost and 127.0.0.1 signed by `ca`: dir/name.pem, dir/name.key.
void make_cert(const TempDir& dir, const std::string& ca, const std::string& name);

}  // namespace gryphon::test
