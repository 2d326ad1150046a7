#include "kube/pem.h"

#include <openssl/bio.h>
#include <openssl/err.h>
#include <openssl/pem.h>

#include "absl/strings/str_cat.h"

namespace coderun::kube {
namespace {

struct BioDeleter {
  void operator()(BIO* b) const { BIO_free(b); }
};
using BioPtr = std::unique_ptr<BIO, BioDeleter>;

BioPtr MemoryBio(std::string_view pem) {
  return BioPtr(BIO_new_mem_buf(pem.data(), static_cast<int>(pem.size())));
}

}  // namespace

void ConfigureClientContext(const TlsMaterial& tls, SSL_CTX* ctx) {
  SSL_CTX_set_min_proto_version(ctx, TLS1_2_VERSION);
  if (tls.ca.empty()) {
    SSL_CTX_set_default_verify_paths(ctx);
  } else {
    // Trust exactly the configured CAs: replace whatever store the context had.
    X509_STORE* store = X509_STORE_new();
    for (const X509Ptr& ca : tls.ca) X509_STORE_add_cert(store, ca.get());  // takes a ref
    SSL_CTX_set_cert_store(ctx, store);  // frees the old store, owns the new one
  }
  if (!tls.cert_chain.empty()) {
    SSL_CTX_use_certificate(ctx, tls.cert_chain.front().get());  // takes a ref
    for (size_t i = 1; i < tls.cert_chain.size(); ++i) {
      X509_up_ref(tls.cert_chain[i].get());
      SSL_CTX_add_extra_chain_cert(ctx, tls.cert_chain[i].get());  // owns that ref
    }
    SSL_CTX_use_PrivateKey(ctx, tls.key.get());  // takes a ref
  }
  SSL_CTX_set_verify(ctx, SSL_VERIFY_PEER, nullptr);
}

std::string OpenSslError() {
  unsigned long code = ERR_get_error();  // NOLINT(runtime/int): OpenSSL's type.
  std::string last;
  while (code != 0) {
    char buf[256];
    ERR_error_string_n(code, buf, sizeof(buf));
    last = buf;
    code = ERR_get_error();
  }
  return last.empty() ? "unknown OpenSSL error" : last;
}

absl::StatusOr<std::vector<X509Ptr>> ParseCertificates(std::string_view pem) {
  ERR_clear_error();
  if (pem.find("-----BEGIN CERTIFICATE-----") == std::string_view::npos) {
    return absl::InvalidArgumentError("not a PEM certificate: no BEGIN CERTIFICATE block");
  }
  BioPtr bio = MemoryBio(pem);
  std::vector<X509Ptr> certs;
  while (true) {
    X509* cert = PEM_read_bio_X509(bio.get(), nullptr, nullptr, nullptr);
    if (cert == nullptr) break;
    certs.emplace_back(cert);
  }
  // Reading stops with "no start line" at the end of the text; anything else is a bad block.
  unsigned long err = ERR_peek_last_error();  // NOLINT(runtime/int)
  if (err != 0 && !(ERR_GET_LIB(err) == ERR_LIB_PEM &&
                    ERR_GET_REASON(err) == PEM_R_NO_START_LINE)) {
    return absl::InvalidArgumentError(absl::StrCat("not a PEM certificate: ", OpenSslError()));
  }
  ERR_clear_error();
  if (certs.empty()) {
    return absl::InvalidArgumentError("not a PEM certificate: no certificate could be read");
  }
  return certs;
}

absl::StatusOr<PkeyPtr> ParsePrivateKey(std::string_view pem) {
  ERR_clear_error();
  BioPtr bio = MemoryBio(pem);
  EVP_PKEY* key = PEM_read_bio_PrivateKey(bio.get(), nullptr, nullptr, nullptr);
  if (key == nullptr) {
    return absl::InvalidArgumentError(absl::StrCat("not a PEM private key: ", OpenSslError()));
  }
  return PkeyPtr(key);
}

absl::Status CheckKeyMatchesCertificate(X509* cert, EVP_PKEY* key) {
  ERR_clear_error();
  if (X509_check_private_key(cert, key) != 1) {
    return absl::InvalidArgumentError(
        absl::StrCat("client key does not match client certificate: ", OpenSslError()));
  }
  return absl::OkStatus();
}

absl::StatusOr<TlsMaterial> ParseTlsMaterial(std::string_view ca_pem, std::string_view cert_pem,
                                             std::string_view key_pem) {
  TlsMaterial tls;
  if (!ca_pem.empty()) {
    absl::StatusOr<std::vector<X509Ptr>> ca = ParseCertificates(ca_pem);
    if (!ca.ok()) return absl::InvalidArgumentError(absl::StrCat("CA is ", ca.status().message()));
    tls.ca = *std::move(ca);
  }
  if (cert_pem.empty() != key_pem.empty()) {
    return absl::InvalidArgumentError(cert_pem.empty()
                                          ? "client key given without a client certificate"
                                          : "client certificate given without a client key");
  }
  if (cert_pem.empty()) return tls;
  absl::StatusOr<std::vector<X509Ptr>> chain = ParseCertificates(cert_pem);
  if (!chain.ok()) {
    return absl::InvalidArgumentError(
        absl::StrCat("client certificate is ", chain.status().message()));
  }
  absl::StatusOr<PkeyPtr> key = ParsePrivateKey(key_pem);
  if (!key.ok()) {
    return absl::InvalidArgumentError(absl::StrCat("client key is ", key.status().message()));
  }
  if (absl::Status match = CheckKeyMatchesCertificate(chain->front().get(), key->get());
      !match.ok()) {
    return match;
  }
  tls.cert_chain = *std::move(chain);
  tls.key = *std::move(key);
  return tls;
}

}  // namespace coderun::kube
