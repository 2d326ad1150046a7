#include "reconcile/quantity.h"

#include <cctype>
#include <limits>

#include "absl/strings/str_cat.h"

namespace coderun::reconcile {
namespace {

constexpr std::int64_t kMax = std::numeric_limits<std::int64_t>::max();

// Multiplies with overflow detection.
bool Mul(std::int64_t a, std::int64_t b, std::int64_t* out) {
  return !__builtin_mul_overflow(a, b, out);
}
bool Add(std::int64_t a, std::int64_t b, std::int64_t* out) {
  return !__builtin_add_overflow(a, b, out);
}

absl::Status Bad(std::string_view text, std::string_view why) {
  return absl::InvalidArgumentError(absl::StrCat("quantity \"", std::string(text), "\": ", std::string(why)));
}

}  // namespace

absl::StatusOr<Quantity> ParseQuantity(std::string_view text) {
  std::string_view s = text;
  if (s.empty()) return Bad(text, "empty");
  if (s.front() == '+') s.remove_prefix(1);
  if (!s.empty() && s.front() == '-') return Bad(text, "must not be negative");

  // Mantissa: digits [. digits]
  std::string int_digits, frac_digits;
  size_t i = 0;
  while (i < s.size() && std::isdigit(static_cast<unsigned char>(s[i]))) int_digits += s[i++];
  if (i < s.size() && s[i] == '.') {
    ++i;
    while (i < s.size() && std::isdigit(static_cast<unsigned char>(s[i]))) frac_digits += s[i++];
  }
  if (int_digits.empty() && frac_digits.empty()) return Bad(text, "no digits");
  std::string_view suffix = s.substr(i);

  // Scale as (binary multiplier, decimal exponent) applied to milli units.
  std::int64_t binary = 1;
  int exp10 = 3;  // milli
  if (suffix.empty()) {
  } else if (suffix == "m") {
    exp10 -= 3;
  } else if (suffix == "k") {
    exp10 += 3;
  } else if (suffix == "M") {
    exp10 += 6;
  } else if (suffix == "G") {
    exp10 += 9;
  } else if (suffix == "T") {
    exp10 += 12;
  } else if (suffix == "P") {
    exp10 += 15;
  } else if (suffix == "E") {
    exp10 += 18;
  } else if (suffix.size() == 2 && suffix[1] == 'i') {
    static constexpr std::string_view kBin = "KMGTPE";
    auto pos = kBin.find(suffix[0]);
    if (pos == std::string_view::npos) return Bad(text, "unknown suffix");
    binary = std::int64_t{1} << (10 * (pos + 1));
  } else if (suffix[0] == 'e' || suffix[0] == 'E') {
    std::string_view e = suffix.substr(1);
    bool neg = false;
    if (!e.empty() && (e[0] == '+' || e[0] == '-')) {
      neg = e[0] == '-';
      e.remove_prefix(1);
    }
    if (e.empty() || e.size() > 3) return Bad(text, "bad exponent");
    int v = 0;
    for (char c : e) {
      if (!std::isdigit(static_cast<unsigned char>(c))) return Bad(text, "bad exponent");
      v = v * 10 + (c - '0');
    }
    exp10 += neg ? -v : v;
  } else {
    return Bad(text, "unknown suffix");
  }

  // value_milli = (int.frac) * 10^exp10 * binary, rounded up.
  std::string digits = int_digits;
  digits.append(frac_digits);
  int exp = exp10 - static_cast<int>(frac_digits.size());
  // Strip leading zeros to keep the number small.
  size_t nz = digits.find_first_not_of('0');
  if (nz == std::string::npos) {
    digits.assign(1, '0');
  } else {
    digits.erase(0, nz);
  }
  std::int64_t value = 0;
  bool round_up = false;
  if (exp < 0) {
    // Drop -exp trailing digits, rounding up if any dropped digit is non-zero.
    size_t drop = static_cast<size_t>(-exp);
    if (drop >= digits.size()) {
      round_up = digits.find_first_not_of('0') != std::string::npos;
      digits.assign(1, '0');
    } else {
      std::string_view dropped(digits.data() + digits.size() - drop, drop);
      round_up = dropped.find_first_not_of('0') != std::string_view::npos;
      digits.resize(digits.size() - drop);
    }
    exp = 0;
  }
  for (char c : digits) {
    if (!Mul(value, 10, &value) || !Add(value, c - '0', &value)) return Bad(text, "too large");
  }
  for (int k = 0; k < exp; ++k) {
    if (!Mul(value, 10, &value)) return Bad(text, "too large");
  }
  if (!Mul(value, binary, &value)) return Bad(text, "too large");
  if (round_up) {
    if (value == kMax) return Bad(text, "too large");
    ++value;
  }
  return Quantity{value};
}

std::string FormatMilli(std::int64_t milli) {
  if (milli % 1000 == 0) return absl::StrCat(milli / 1000);
  return absl::StrCat(milli, "m");
}

}  // namespace coderun::reconcile
