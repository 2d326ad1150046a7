#include "api/input_digest.h"

#include <openssl/evp.h>

#include <cstdint>
#include <cstdlib>
#include <memory>

namespace coderun::api {

std::string InputDigest(std::string_view nonce, std::string_view code,
                        std::string_view stdin_data, std::string_view args_json) {
  return InputDigest(nonce, code, stdin_data, args_json, "");
}

std::string InputDigest(std::string_view nonce, std::string_view code,
                        std::string_view stdin_data, std::string_view args_json,
                        std::string_view tests_json) {
  const std::unique_ptr<EVP_MD_CTX, decltype(&EVP_MD_CTX_free)> ctx(EVP_MD_CTX_new(),
                                                                     &EVP_MD_CTX_free);
  bool ok = ctx != nullptr && EVP_DigestInit_ex(ctx.get(), EVP_sha256(), nullptr) == 1;
  const std::string_view fields[] = {nonce, code, stdin_data, args_json, tests_json};
  const size_t count = tests_json.empty() ? 4 : 5;
  for (size_t f = 0; f < count; ++f) {
    const std::string_view field = fields[f];
    unsigned char length[8];
    for (int i = 0; i < 8; ++i) {
      length[i] = static_cast<unsigned char>(uint64_t{field.size()} >> (8 * i));
    }
    ok = ok && EVP_DigestUpdate(ctx.get(), length, sizeof(length)) == 1 &&
         EVP_DigestUpdate(ctx.get(), field.data(), field.size()) == 1;
  }
  unsigned char digest[EVP_MAX_MD_SIZE];
  unsigned int digest_size = 0;
  ok = ok && EVP_DigestFinal_ex(ctx.get(), digest, &digest_size) == 1 && digest_size == 32;
  if (!ok) abort();  // SHA-256 is built into libcrypto's default provider
  static constexpr char kHex[] = "0123456789abcdef";
  std::string hex;
  for (unsigned int i = 0; i < digest_size; ++i) {
    hex += kHex[digest[i] >> 4];
    hex += kHex[digest[i] & 15];
  }
  return hex;
}

}  // namespace coderun::api
