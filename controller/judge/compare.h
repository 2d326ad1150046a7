// Comparing a test case's output with the expected one, in the modes of spec.compare
// (docs/judge-mode.md). Runs in the controller: the expected output never enters the Pod.
//
//   CompareSpec spec{CompareMode::kFloat, 1e-6, 1e-6};
//   Comparison c = Compare(spec, actual, expected);   // c.equal, c.difference
//
// Pure functions of their input: total (defined for every byte string, invalid UTF-8
// included), linear in the input's size, thread-compatible.
#pragma once

#include <optional>
#include <string>
#include <string_view>

namespace coderun::judge {

enum class CompareMode {
  kExact,                   // byte for byte
  kTrimTrailingWhitespace,  // per line, and trailing empty lines; "\r\n" is "\n"
  kTokens,                  // whitespace-separated tokens
  kFloat,                   // tokens; numeric tokens within a tolerance
};

// "exact", "trimTrailingWhitespace", "tokens", "float"; nullopt for anything else.
std::optional<CompareMode> ParseCompareMode(std::string_view name);
std::string_view CompareModeName(CompareMode mode);

inline constexpr double kDefaultAbsoluteTolerance = 1e-6;
inline constexpr double kDefaultRelativeTolerance = 1e-6;

struct CompareSpec {
  CompareMode mode = CompareMode::kTrimTrailingWhitespace;
  // kFloat: a number matches when |actual - expected| <= absolute, or
  // <= relative * |expected|. Both >= 0.
  double absolute_tolerance = kDefaultAbsoluteTolerance;
  double relative_tolerance = kDefaultRelativeTolerance;
};

struct Comparison {
  bool equal = false;
  // When not equal: where they first differ, for people, e.g.
  // `line 3: expected "42", got "41"` or `token 7: expected 3.14159, got 3.2` or
  // `expected 5 lines, got 4`; the quoted texts cut to kMaxQuotedBytes. "" when equal.
  std::string difference;
};

inline constexpr size_t kMaxQuotedBytes = 64;

Comparison Compare(const CompareSpec& spec, std::string_view actual, std::string_view expected);

// The numeric value of a token, if it is a decimal number (optional sign, digits with an
// optional fraction, optional exponent) or inf/infinity/nan in any case; nullopt otherwise
// (hex floats and anything with trailing characters are not numbers here).
std::optional<double> ParseNumber(std::string_view token);

}  // namespace coderun::judge
