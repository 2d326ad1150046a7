// RFC 3339 timestamps, as the Kubernetes API writes and reads them (through abseil's time
// library).
#pragma once

#include <cstdint>
#include <optional>
#include <string>
#include <string_view>

#include "common/clock.h"

namespace coderun {

// UTC with a "Z": "2026-11-26T06:37:52Z", or with `fraction_digits` 3 or 6
// "...52.123Z" / "...52.123456Z" (other values: none). Fractions are cut, not rounded.
std::string FormatRfc3339(WallTime t, int fraction_digits = 0);

// Parses a full RFC 3339 date-time: "YYYY-MM-DDTHH:MM:SS", an optional fraction of any
// length, then "Z" or a numeric offset ("+02:00", "-05:30"). Anything else (a missing zone,
// surrounding whitespace, trailing characters, out-of-range fields) is nullopt.
std::optional<WallTime> ParseRfc3339(std::string_view text);

// ParseRfc3339 in Unix seconds, the fraction cut (floor).
std::optional<std::int64_t> ParseRfc3339Seconds(std::string_view text);

}  // namespace coderun
