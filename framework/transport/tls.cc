#include "transport/tls.h"

#include <openssl/err.h>
#include <openssl/pem.h>
#include <openssl/x509.h>

#include <fstream>
#include <memory>
#include <sstream>
#include <stdexcept>

namespace gryphon::internal {
namespace {

std::string read_file(const std::string& option, const std::string& path) {
  std::ifstream in(path, std::ios::binary);
  if (!in)
    throw std::invalid_argument(option + ": cannot read '" + path +
                                "'; check the path and its permissions");
  std::stringstream text;
  text << in.rdbuf();
  return text.str();
}

std::string openssl_error() {
  const unsigned long code = ERR_get_error();
  ERR_clear_error();
  if (code == 0) return "no PEM data found";
  char buffer[256];
  ERR_error_string_n(code, buffer, sizeof(buffer));
  return buffer;
}

using Bio = std::unique_ptr<BIO, decltype(&BIO_free)>;
Bio memory_bio(const std::string& pem) {
  return Bio(BIO_new_mem_buf(pem.data(), static_cast<int>(pem.size())), &BIO_free);
}

// Parses every certificate in `pem`; returns the first (the leaf). Throws on none or garbage.
std::unique_ptr<X509, decltype(&X509_free)> parse_certificates(const std::string& option,
                                                               const std::string& path,
                                                               const std::string& pem) {
  Bio bio = memory_bio(pem);
  std::unique_ptr<X509, decltype(&X509_free)> first(
      PEM_read_bio_X509(bio.get(), nullptr, nullptr, nullptr), &X509_free);
  if (!first) {
    throw std::invalid_argument(option + ": '" + path + "' holds no PEM certificate (" +
                                openssl_error() + ")");
  }
  while (X509* next = PEM_read_bio_X509(bio.get(), nullptr, nullptr, nullptr)) X509_free(next);
  const unsigned long trailing = ERR_peek_last_error();
  if (trailing != 0 && ERR_GET_REASON(trailing) != PEM_R_NO_START_LINE) {
    throw std::invalid_argument(option + ": '" + path + "' has a malformed certificate (" +
                                openssl_error() + ")");
  }
  ERR_clear_error();
  return first;
}

}  // namespace

TlsMaterial load_tls(const Config& config) {
  TlsMaterial tls;
  if (config.tls_cert.empty()) return tls;
  tls.cert_chain = read_file("--tls-cert", config.tls_cert);
  tls.private_key = read_file("--tls-key", config.tls_key);
  auto leaf = parse_certificates("--tls-cert", config.tls_cert, tls.cert_chain);
  Bio key_bio = memory_bio(tls.private_key);
  std::unique_ptr<EVP_PKEY, decltype(&EVP_PKEY_free)> key(
      PEM_read_bio_PrivateKey(key_bio.get(), nullptr, nullptr, nullptr), &EVP_PKEY_free);
  if (!key) {
    throw std::invalid_argument("--tls-key: '" + config.tls_key +
                                "' holds no usable PEM private key (" + openssl_error() +
                                "); an encrypted key must be decrypted first");
  }
  if (X509_check_private_key(leaf.get(), key.get()) != 1) {
    ERR_clear_error();
    throw std::invalid_argument("--tls-key: '" + config.tls_key +
                                "' does not match the certificate in '" + config.tls_cert + "'");
  }
  if (!config.tls_client_ca.empty()) {
    tls.client_ca = read_file("--tls-client-ca", config.tls_client_ca);
    parse_certificates("--tls-client-ca", config.tls_client_ca, tls.client_ca);
  }
  tls.client_auth = config.tls_client_auth;
  return tls;
}

}  // namespace gryphon::internal
