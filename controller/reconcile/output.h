// Bounds a program's output to what the CodeRun status may hold.
#pragma once

#include <cstddef>
#include <string>
#include <string_view>

#include "kube/client.h"

namespace coderun::reconcile {

// Bytes `utf8` takes inside a JSON string as the apiserver encodes it (Go's encoder):
// `"` and `\` take 2, \n \r \t 2, other control characters 6, `<` `>` `&` 6 (HTML-safe
// escaping), U+2028 and U+2029 6 each, everything else as is. `utf8` must be valid UTF-8.
size_t ApiEncodedSize(std::string_view utf8);

// Bytes `value` takes as the apiserver stores it (compact JSON, Go's encoder): what counts
// against the store's object size limit.
size_t StoredSize(const kube::json& value);

// What etcd accepts in one request by default (--max-request-bytes, 1.5 MiB), less room for
// the key and the request's framing: a CodeRun must stay below this with its final status.
inline constexpr size_t kStoreLimitBytes = 1572864 - 32768;
// A terminal status without output: phase, reason, messages (status and condition), times,
// usage, podName/podUID. Messages the controller writes stay far below this.
inline constexpr size_t kStatusOverheadBytes = 8192;

// Cuts `utf8` (valid UTF-8) on a character boundary so that ApiEncodedSize <= cap.
// Returns true if anything was cut.
bool CutToEncodedSize(std::string& utf8, size_t cap);

}  // namespace coderun::reconcile
