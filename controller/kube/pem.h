// PEM material (CA bundles, client certificates and keys) parsed with OpenSSL, so that a bad
// file is reported when the configuration is loaded rather than at the first request.
#pragma once

#include <memory>
#include <string>
#include <string_view>
#include <vector>

#include <openssl/evp.h>
#include <openssl/ssl.h>
#include <openssl/x509.h>

#include "absl/status/statusor.h"

namespace coderun::kube {

struct X509Deleter {
  void operator()(X509* x) const { X509_free(x); }
};
struct PkeyDeleter {
  void operator()(EVP_PKEY* k) const { EVP_PKEY_free(k); }
};
using X509Ptr = std::unique_ptr<X509, X509Deleter>;
using PkeyPtr = std::unique_ptr<EVP_PKEY, PkeyDeleter>;

// Parses every certificate of a PEM bundle. InvalidArgument ("not a PEM certificate: <why>")
// when the text holds no certificate or a block does not parse.
absl::StatusOr<std::vector<X509Ptr>> ParseCertificates(std::string_view pem);

// Parses a PEM private key (PKCS#8, RSA or EC). InvalidArgument when it does not parse.
absl::StatusOr<PkeyPtr> ParsePrivateKey(std::string_view pem);

// InvalidArgument when `key` is not the private key of `cert`.
absl::Status CheckKeyMatchesCertificate(X509* cert, EVP_PKEY* key);

// What a client configuration's PEM texts hold, parsed.
struct TlsMaterial {
  std::vector<X509Ptr> ca;          // empty when no CA was given
  std::vector<X509Ptr> cert_chain;  // leaf first; empty when no client certificate was given
  PkeyPtr key;                      // set exactly when cert_chain is not empty
};

// Parses a CA bundle and a client certificate chain with its key, any of them empty. The
// certificate and the key come together and must match. InvalidArgument saying which part
// is wrong: "CA is not a PEM certificate: ...", "client certificate is ...", "client key
// is ...", "client certificate given without a client key" (and the converse), "client key
// does not match client certificate: ...".
absl::StatusOr<TlsMaterial> ParseTlsMaterial(std::string_view ca_pem, std::string_view cert_pem,
                                             std::string_view key_pem);

// Makes `ctx` a client context for `tls`: TLS 1.2 or later, peers verified against exactly
// tls.ca (the system's default CAs when it is empty), tls's client certificate chain and key
// presented when there are some. The host name check is per connection (the transport's).
void ConfigureClientContext(const TlsMaterial& tls, SSL_CTX* ctx);

// The most recent OpenSSL error as one line (empties the error queue).
std::string OpenSslError();

}  // namespace coderun::kube
