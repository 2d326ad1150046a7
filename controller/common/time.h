// RFC 3339 timestamps in UTC, as the Kubernetes API writes them.
#pragma once

#include <cstdint>
#include <optional>
#include <string>

#include "common/clock.h"

namespace coderun {

// "2026-11-26T06:37:52Z", or with `fraction_digits` (3 or 6) "...52.123Z" / "...52.123456Z".
std::string FormatRfc3339(WallTime t, int fraction_digits = 0);

// Unix seconds of "YYYY-MM-DDTHH:MM:SS..." (fraction and zone suffix ignored: the API writes
// UTC); nullopt if malformed.
std::optional<std::int64_t> ParseRfc3339Seconds(const std::string& text);

}  // namespace coderun
