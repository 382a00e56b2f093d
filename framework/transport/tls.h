// TLS material for the workers, loaded and checked by the master with OpenSSL alone.
//
// gRPC must not be initialised in the master (so no grpc::SslServerCredentials there), and gRPC
// 1.51 accepts a bad PEM silently and then hangs every connection (measured). So the master reads
// the files, parses them with OpenSSL, checks that the key matches the certificate, and hands the
// PEM text to the workers it forks. On HUP a bad file keeps the material already loaded.
#pragma once

#include <string>

#include "config/config.h"

namespace gryphon::internal {

struct TlsMaterial {
  std::string cert_chain;   // PEM
  std::string private_key;  // PEM
  std::string client_ca;    // PEM; empty without client certificates
  ClientAuth client_auth = ClientAuth::kNone;
  bool enabled() const { return !cert_chain.empty(); }
};

// Reads and validates the files named by the config. Throws std::invalid_argument with a message
// that names the option and what is wrong (the caller maps it to exit code 2).
TlsMaterial load_tls(const Config& config);

}  // namespace gryphon::internal
