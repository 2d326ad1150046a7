#include "common/time.h"

#include <cstdio>
#include <ctime>

namespace coderun {

std::string FormatRfc3339(WallTime t, int fraction_digits) {
  const auto micros =
      std::chrono::duration_cast<std::chrono::microseconds>(t.time_since_epoch()).count();
  std::time_t secs = static_cast<std::time_t>(micros / 1000000);
  if (micros < 0 && micros % 1000000 != 0) --secs;
  const long long frac = ((micros % 1000000) + 1000000) % 1000000;
  std::tm tm{};
  gmtime_r(&secs, &tm);
  char buf[64];
  int n = std::snprintf(buf, sizeof buf, "%04d-%02d-%02dT%02d:%02d:%02d", tm.tm_year + 1900,
                        tm.tm_mon + 1, tm.tm_mday, tm.tm_hour, tm.tm_min, tm.tm_sec);
  if (fraction_digits == 3) {
    std::snprintf(buf + n, sizeof buf - n, ".%03lldZ", frac / 1000);
  } else if (fraction_digits == 6) {
    std::snprintf(buf + n, sizeof buf - n, ".%06lldZ", frac);
  } else {
    std::snprintf(buf + n, sizeof buf - n, "Z");
  }
  return buf;
}

std::optional<std::int64_t> ParseRfc3339Seconds(const std::string& text) {
  std::tm tm{};
  int y, mo, d, h, mi, s;
  if (std::sscanf(text.c_str(), "%4d-%2d-%2dT%2d:%2d:%2d", &y, &mo, &d, &h, &mi, &s) != 6) {
    return std::nullopt;
  }
  tm.tm_year = y - 1900;
  tm.tm_mon = mo - 1;
  tm.tm_mday = d;
  tm.tm_hour = h;
  tm.tm_min = mi;
  tm.tm_sec = s;
  return static_cast<std::int64_t>(timegm(&tm));
}

}  // namespace coderun
