// Bounds a program's output to what the CodeRun status may hold.
#pragma once

#include <cstddef>
#include <string>
#include <string_view>

namespace coderun::reconcile {

// Bytes `utf8` takes inside a JSON string as the apiserver encodes it (Go's encoder):
// `"` and `\` take 2, \n \r \t 2, other control characters 6, `<` `>` `&` 6 (HTML-safe
// escaping), U+2028 and U+2029 6 each, everything else as is. `utf8` must be valid UTF-8.
size_t ApiEncodedSize(std::string_view utf8);

// Cuts `utf8` (valid UTF-8) on a character boundary so that ApiEncodedSize <= cap.
// Returns true if anything was cut.
bool CutToEncodedSize(std::string& utf8, size_t cap);

}  // namespace coderun::reconcile
