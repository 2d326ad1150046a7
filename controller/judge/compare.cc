#include "judge/compare.h"

#include <algorithm>
#include <cmath>
#include <cstdlib>
#include <vector>

#include "absl/strings/ascii.h"
#include "absl/strings/str_cat.h"
#include "api/utf8.h"

namespace coderun::judge {
namespace {

// Space, \t, \n, \v, \f and \r: what "whitespace" means in every mode.
bool IsSpace(char c) { return absl::ascii_isspace(static_cast<unsigned char>(c)); }

// `text` for a message: valid UTF-8, at most kMaxQuotedBytes of it, control characters,
// quotes and backslashes escaped, in double quotes.
std::string Quote(std::string_view text) {
  std::string out = "\"";
  size_t used = 0;
  for (size_t pos = 0; pos < text.size();) {
    const api::Utf8Unit unit = api::NextUtf8Unit(text, pos);
    if (used + unit.length > kMaxQuotedBytes) {
      out += "...";
      break;
    }
    const unsigned char c = static_cast<unsigned char>(text[pos]);
    if (!unit.valid) {
      out += api::kReplacementChar;
    } else if (c == '"' || c == '\\') {
      out += '\\';
      out += static_cast<char>(c);
    } else if (c == '\n') {
      out += "\\n";
    } else if (c == '\r') {
      out += "\\r";
    } else if (c == '\t') {
      out += "\\t";
    } else if (c < 0x20 || c == 0x7f) {
      static const char kHex[] = "0123456789abcdef";
      out += "\\x";
      out += kHex[c >> 4];
      out += kHex[c & 15];
    } else {
      out.append(text.substr(pos, unit.length));
    }
    used += unit.length;
    pos += unit.length;
  }
  return out + "\"";
}

std::vector<std::string_view> Lines(std::string_view text) {
  std::vector<std::string_view> lines;
  size_t start = 0;
  while (start <= text.size()) {
    size_t end = text.find('\n', start);
    if (end == std::string_view::npos) end = text.size();
    std::string_view line = text.substr(start, end - start);
    while (!line.empty() && IsSpace(line.back())) line.remove_suffix(1);
    lines.push_back(line);
    start = end + 1;
  }
  while (!lines.empty() && lines.back().empty()) lines.pop_back();
  return lines;
}

std::vector<std::string_view> Tokens(std::string_view text) {
  std::vector<std::string_view> tokens;
  size_t pos = 0;
  while (pos < text.size()) {
    while (pos < text.size() && IsSpace(text[pos])) ++pos;
    const size_t start = pos;
    while (pos < text.size() && !IsSpace(text[pos])) ++pos;
    if (pos > start) tokens.push_back(text.substr(start, pos - start));
  }
  return tokens;
}

// Items (lines or tokens) compared one by one with `same`; the first difference described.
template <typename Same>
Comparison CompareItems(const char* what, const std::vector<std::string_view>& actual,
                        const std::vector<std::string_view>& expected, Same same) {
  const size_t n = std::min(actual.size(), expected.size());
  for (size_t i = 0; i < n; ++i) {
    if (!same(actual[i], expected[i])) {
      return {false, absl::StrCat(what, " ", i + 1, ": expected ", Quote(expected[i]), ", got ",
                                  Quote(actual[i]))};
    }
  }
  if (actual.size() == expected.size()) return {true, ""};
  if (actual.size() < expected.size()) {
    return {false, absl::StrCat(what, " ", n + 1, ": expected ", Quote(expected[n]),
                                ", got the end of the output (", actual.size(), " ", what,
                                "s of ", expected.size(), ")")};
  }
  return {false, absl::StrCat(what, " ", n + 1, ": expected the end of the output, got ",
                              Quote(actual[n]), " (", actual.size(), " ", what, "s, expected ",
                              expected.size(), ")")};
}

bool NumbersMatch(const CompareSpec& spec, double actual, double expected) {
  if (std::isnan(expected)) return std::isnan(actual);
  if (std::isinf(expected)) return actual == expected;
  if (!std::isfinite(actual)) return false;
  const double diff = std::fabs(actual - expected);
  return diff <= spec.absolute_tolerance || diff <= spec.relative_tolerance * std::fabs(expected);
}

// absl::EqualsIgnoreCase takes absl::string_view, which the system's Abseil does not make
// from std::string_view.
bool EqualsIgnoringCase(std::string_view a, std::string_view lower) {
  if (a.size() != lower.size()) return false;
  for (size_t i = 0; i < a.size(); ++i) {
    if (absl::ascii_tolower(static_cast<unsigned char>(a[i])) != lower[i]) return false;
  }
  return true;
}

bool IsDigit(char c) { return c >= '0' && c <= '9'; }

}  // namespace

std::optional<CompareMode> ParseCompareMode(std::string_view name) {
  if (name == "exact") return CompareMode::kExact;
  if (name == "trimTrailingWhitespace") return CompareMode::kTrimTrailingWhitespace;
  if (name == "tokens") return CompareMode::kTokens;
  if (name == "float") return CompareMode::kFloat;
  return std::nullopt;
}

std::string_view CompareModeName(CompareMode mode) {
  switch (mode) {
    case CompareMode::kExact: return "exact";
    case CompareMode::kTrimTrailingWhitespace: return "trimTrailingWhitespace";
    case CompareMode::kTokens: return "tokens";
    case CompareMode::kFloat: return "float";
  }
  return "";
}

std::optional<double> ParseNumber(std::string_view token) {
  std::string_view body = token;
  bool negative = false;
  if (!body.empty() && (body.front() == '+' || body.front() == '-')) {
    negative = body.front() == '-';
    body.remove_prefix(1);
  }
  if (EqualsIgnoringCase(body, "inf") || EqualsIgnoringCase(body, "infinity")) {
    return negative ? -HUGE_VAL : HUGE_VAL;
  }
  if (EqualsIgnoringCase(body, "nan")) return std::nan("");
  // digits [. digits] | . digits, then [e|E [sign] digits].
  size_t i = 0;
  size_t digits = 0;
  while (i < body.size() && IsDigit(body[i])) ++i, ++digits;
  if (i < body.size() && body[i] == '.') {
    ++i;
    while (i < body.size() && IsDigit(body[i])) ++i, ++digits;
  }
  if (digits == 0) return std::nullopt;
  if (i < body.size() && (body[i] == 'e' || body[i] == 'E')) {
    ++i;
    if (i < body.size() && (body[i] == '+' || body[i] == '-')) ++i;
    size_t exponent_digits = 0;
    while (i < body.size() && IsDigit(body[i])) ++i, ++exponent_digits;
    if (exponent_digits == 0) return std::nullopt;
  }
  if (i != body.size()) return std::nullopt;
  // strtod rounds correctly; out of range gives +-HUGE_VAL or a (denormal or zero) tiny.
  const std::string text(token);
  return std::strtod(text.c_str(), nullptr);
}

Comparison Compare(const CompareSpec& spec, std::string_view actual, std::string_view expected) {
  switch (spec.mode) {
    case CompareMode::kExact: {
      if (actual == expected) return {true, ""};
      const size_t at = static_cast<size_t>(
          std::mismatch(actual.begin(), actual.begin() + std::min(actual.size(), expected.size()),
                        expected.begin())
              .first -
          actual.begin());
      const size_t line_start = at == 0 ? 0 : actual.rfind('\n', at - 1) + 1;  // npos+1 == 0
      const size_t line = static_cast<size_t>(std::count(actual.begin(), actual.begin() + at, '\n')) + 1;
      // The line where they differ, as each has it (newline included).
      auto rest_of_line = [&](std::string_view text) {
        if (line_start >= text.size()) return std::string("the end of the output");
        const size_t end = text.find('\n', line_start);
        return Quote(text.substr(line_start, end == std::string_view::npos
                                                 ? std::string_view::npos
                                                 : end - line_start + 1));
      };
      return {false, absl::StrCat("byte ", at + 1, " (line ", line, "): expected ",
                                  rest_of_line(expected), ", got ", rest_of_line(actual))};
    }
    case CompareMode::kTrimTrailingWhitespace:
      return CompareItems("line", Lines(actual), Lines(expected),
                          [](std::string_view a, std::string_view e) { return a == e; });
    case CompareMode::kTokens:
      return CompareItems("token", Tokens(actual), Tokens(expected),
                          [](std::string_view a, std::string_view e) { return a == e; });
    case CompareMode::kFloat:
      return CompareItems("token", Tokens(actual), Tokens(expected),
                          [&spec](std::string_view a, std::string_view e) {
                            const std::optional<double> want = ParseNumber(e);
                            if (!want) return a == e;
                            const std::optional<double> got = ParseNumber(a);
                            return got.has_value() && NumbersMatch(spec, *got, *want);
                          });
  }
  return {false, "unknown comparison mode"};
}

}  // namespace coderun::judge
