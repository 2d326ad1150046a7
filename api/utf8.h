// UTF-8 repair and JSON size accounting for the program's output streams.
//
// The runner delivers stdout and stderr as valid UTF-8 and caps each stream by the size it
// will take once JSON-encoded, so the controller can store it without ever exceeding a
// bound. These helpers are pure functions of their input: total (defined for every byte
// string), allocation-bounded by the input size, and thread-compatible.
#pragma once

#include <cstddef>
#include <string>
#include <string_view>

namespace coderun::api {

// The replacement character U+FFFD, UTF-8 encoded.
inline constexpr std::string_view kReplacementChar = "\xEF\xBF\xBD";

// Length of the next unit of `bytes` at `pos` (pos < bytes.size()) and whether it is a
// well-formed UTF-8 sequence (Unicode table 3-7). An ill-formed unit is a "maximal
// subpart" (Unicode 3.9, U+FFFD substitution of maximal subparts; the same policy as
// Python's bytes.decode("utf-8", "replace")): it is replaced by exactly one U+FFFD.
struct Utf8Unit {
  size_t length = 1;
  bool valid = false;
};
Utf8Unit NextUtf8Unit(std::string_view bytes, size_t pos);

// Returns `bytes` with every ill-formed unit replaced by U+FFFD. Valid input is returned
// unchanged; the result is always valid UTF-8.
std::string SanitizeUtf8(std::string_view bytes);

// Number of bytes nlohmann::json's dump() (ensure_ascii = false) writes for the string
// `utf8` as a JSON string value, NOT counting the two enclosing quotes: '"' and '\\' and
// \b \f \n \r \t take 2, other control characters below 0x20 take 6 (\u00XX), every other
// byte 1. `utf8` must be valid UTF-8 (the result for other input is still defined: bytes
// are counted as if valid).
size_t JsonEncodedSize(std::string_view utf8);

// Result of CutToEncodedSize.
struct CutText {
  std::string text;      // valid UTF-8, JsonEncodedSize(text) <= the limit
  size_t raw_bytes = 0;  // how many bytes of the input `text` represents
};

// Repairs `raw` as SanitizeUtf8 does and keeps the longest prefix, cut between units
// (never inside a character), whose JsonEncodedSize is at most `max_encoded`. The input
// was cut short by the caller iff raw_bytes < the stream's total byte count.
CutText CutToEncodedSize(std::string_view raw, size_t max_encoded);

}  // namespace coderun::api
