#include "common/time.h"

#include "absl/strings/ascii.h"
#include "absl/time/time.h"

namespace coderun {
std::string FormatRfc3339(WallTime t, int fraction_digits) {
  const char* format = fraction_digits == 3   ? "%Y-%m-%d%ET%H:%M:%E3SZ"
                       : fraction_digits == 6 ? "%Y-%m-%d%ET%H:%M:%E6SZ"
                                              : "%Y-%m-%d%ET%H:%M:%SZ";
  return absl::FormatTime(format, absl::FromChrono(t), absl::UTCTimeZone());
}

std::optional<WallTime> ParseRfc3339(std::string_view text) {
  // absl::ParseTime skips surrounding whitespace; RFC 3339 has none.
  if (text.empty() || absl::ascii_isspace(static_cast<unsigned char>(text.front())) ||
      absl::ascii_isspace(static_cast<unsigned char>(text.back()))) {
    return std::nullopt;
  }
  // The zone is "Z"/"z" or "+hh:mm"/"-hh:mm" (abseil's %Ez would also take "+hh" and
  // "+hhmm").
  const char last = text.back();
  if (last != 'Z' && last != 'z') {
    const size_t n = text.size();
    if (n < 6 || (text[n - 6] != '+' && text[n - 6] != '-') || text[n - 3] != ':') {
      return std::nullopt;
    }
  }
  absl::Time t;
  std::string error;
  if (!absl::ParseTime(absl::RFC3339_full, std::string(text), &t, &error)) return std::nullopt;
  return absl::ToChronoTime(t);
}

std::optional<std::int64_t> ParseRfc3339Seconds(std::string_view text) {
  std::optional<WallTime> t = ParseRfc3339(text);
  if (!t.has_value()) return std::nullopt;
  return absl::ToUnixSeconds(absl::FromChrono(*t));
}

}  // namespace coderun
