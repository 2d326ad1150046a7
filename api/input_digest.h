// The digest that ties a run's Pod to the input it was created with.
//
// The controller writes a random `nonce` into the run's Secret beside `code`, `stdin` and
// `args.json`, and passes InputDigest of the four to the runner (--input-digest). The
// runner recomputes it from the mounted files and refuses to run input that does not
// match: a Secret replaced by someone else cannot run under the run's name.
//
// Shared by the runner (linked statically) and the controller: target coderun_input_digest.
#pragma once

#include <string>
#include <string_view>

namespace coderun::api {

// Hex (64 lowercase digits) SHA-256 over, for each of nonce, code, stdin_data and
// args_json in that order, the field's length as 8 bytes little-endian followed by its
// bytes. An absent file counts as empty. Never fails (aborts only if libcrypto cannot
// compute SHA-256 at all).
std::string InputDigest(std::string_view nonce, std::string_view code,
                        std::string_view stdin_data, std::string_view args_json);

// Judge mode: the same over nonce, code, stdin_data, args_json and then tests_json (the
// Secret's tests.json), the fifth only when it is not empty, so that a run without tests
// has the digest of the four-argument form.
std::string InputDigest(std::string_view nonce, std::string_view code,
                        std::string_view stdin_data, std::string_view args_json,
                        std::string_view tests_json);

}  // namespace coderun::api
