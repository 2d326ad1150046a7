#include "judge/compare.h"

#include <cmath>
#include <string>

#include "gmock/gmock.h"
#include "gtest/gtest.h"

namespace coderun::judge {
namespace {

using ::testing::HasSubstr;

bool Same(CompareMode mode, std::string_view actual, std::string_view expected) {
  return Compare(CompareSpec{mode}, actual, expected).equal;
}

TEST(CompareTest, ExactIsByteForByte) {
  EXPECT_TRUE(Same(CompareMode::kExact, "42\n", "42\n"));
  EXPECT_TRUE(Same(CompareMode::kExact, "", ""));
  EXPECT_FALSE(Same(CompareMode::kExact, "42", "42\n"));
  EXPECT_FALSE(Same(CompareMode::kExact, "42\r\n", "42\n"));
  EXPECT_FALSE(Same(CompareMode::kExact, "42 \n", "42\n"));
}

TEST(CompareTest, ExactSaysWhereAndShowsTheLine) {
  Comparison c = Compare({CompareMode::kExact}, "a\nb x\n", "a\nb y\n");
  EXPECT_FALSE(c.equal);
  EXPECT_EQ(c.difference, R"(byte 5 (line 2): expected "b y\n", got "b x\n")");
  EXPECT_EQ(Compare({CompareMode::kExact}, "a\n", "a\nb\n").difference,
            R"(byte 3 (line 2): expected "b\n", got the end of the output)");
  EXPECT_EQ(Compare({CompareMode::kExact}, "a\r\n", "a\n").difference,
            R"(byte 2 (line 1): expected "a\n", got "a\r\n")");
}

TEST(CompareTest, TrimIgnoresTrailingWhitespaceCrlfAndTrailingEmptyLines) {
  const CompareMode m = CompareMode::kTrimTrailingWhitespace;
  EXPECT_TRUE(Same(m, "1 2  \r\n3\t\r\n\n\n", "1 2\n3\n"));
  EXPECT_TRUE(Same(m, "42", "42\n"));
  EXPECT_TRUE(Same(m, "", "\n\n"));
  EXPECT_TRUE(Same(m, " \n\t\n", ""));
  // Leading whitespace and blank lines in the middle still count.
  EXPECT_FALSE(Same(m, " 42\n", "42\n"));
  EXPECT_FALSE(Same(m, "1\n\n2\n", "1\n2\n"));
  EXPECT_FALSE(Same(m, "1 2\n", "1  2\n"));
}

TEST(CompareTest, TrimSaysWhichLine) {
  EXPECT_EQ(Compare({}, "1\n2\n4\n", "1\n2\n3\n").difference,
            R"(line 3: expected "3", got "4")");
  EXPECT_EQ(Compare({}, "1\n", "1\n2\n").difference,
            R"(line 2: expected "2", got the end of the output (1 lines of 2))");
  EXPECT_EQ(Compare({}, "1\n2\n", "1\n").difference,
            R"(line 2: expected the end of the output, got "2" (2 lines, expected 1))");
}

TEST(CompareTest, TokensIgnoreAllWhitespaceLayout) {
  const CompareMode m = CompareMode::kTokens;
  EXPECT_TRUE(Same(m, "1   2\r\n\t3", "1 2 3\n"));
  EXPECT_TRUE(Same(m, "\n \n", ""));
  EXPECT_FALSE(Same(m, "1 2", "1 2 3"));
  EXPECT_FALSE(Same(m, "12", "1 2"));
  EXPECT_FALSE(Same(m, "1.0", "1"));  // text, not numbers
  EXPECT_EQ(Compare({m}, "a b c", "a x c").difference, R"(token 2: expected "x", got "b")");
}

TEST(CompareTest, HugeTokensAreComparedWholeAndQuotedShort) {
  const std::string big(1 << 20, '7');
  std::string other = big;
  other.back() = '8';
  EXPECT_TRUE(Same(CompareMode::kTokens, big, big));
  Comparison c = Compare({CompareMode::kTokens}, other, big);
  EXPECT_FALSE(c.equal);
  EXPECT_LT(c.difference.size(), 200u);
  EXPECT_THAT(c.difference, HasSubstr("..."));
  // As numbers: both parse (to the same double), so float calls them equal.
  EXPECT_TRUE(Compare({CompareMode::kFloat}, other, big).equal);
}

TEST(CompareTest, FloatWithinAbsoluteOrRelativeTolerance) {
  CompareSpec spec{CompareMode::kFloat, 1e-6, 0};
  EXPECT_TRUE(Compare(spec, "3.1415926", "3.14159265").equal);
  EXPECT_FALSE(Compare(spec, "3.1416", "3.14159265").equal);
  EXPECT_TRUE(Compare(spec, "0.0000005", "0").equal);
  EXPECT_TRUE(Compare(spec, "-0", "0").equal);
  spec = {CompareMode::kFloat, 0, 1e-3};
  EXPECT_TRUE(Compare(spec, "1000000.5", "1000000").equal);   // 5e-7 relative
  EXPECT_FALSE(Compare(spec, "1.01", "1").equal);
  EXPECT_FALSE(Compare(spec, "0.0000001", "0").equal);        // relative to 0: nothing
  // At the tolerance exactly: accepted.
  spec = {CompareMode::kFloat, 0.5, 0};
  EXPECT_TRUE(Compare(spec, "1.5", "1").equal);
  EXPECT_FALSE(Compare(spec, "1.5000001", "1").equal);
  // Formats differ, values agree.
  spec = {CompareMode::kFloat};
  EXPECT_TRUE(Compare(spec, "1e3 +2.50 .5", "1000 2.5 0.5").equal);
  EXPECT_THAT(Compare(spec, "1 2.5", "1 2.4").difference,
              HasSubstr(R"(token 2: expected "2.4", got "2.5")"));
}

TEST(CompareTest, FloatNanAndInfinities) {
  const CompareSpec spec{CompareMode::kFloat, 1e9, 1e9};  // tolerances never excuse these
  EXPECT_TRUE(Compare(spec, "nan", "NaN").equal);
  EXPECT_FALSE(Compare(spec, "1", "nan").equal);
  EXPECT_FALSE(Compare(spec, "nan", "1").equal);
  EXPECT_TRUE(Compare(spec, "inf -Infinity", "Infinity -inf").equal);
  EXPECT_FALSE(Compare(spec, "inf", "-inf").equal);
  EXPECT_FALSE(Compare(spec, "1e308", "inf").equal);
  EXPECT_FALSE(Compare(spec, "inf", "1e308").equal);
  EXPECT_TRUE(Compare(spec, "1e400", "inf").equal);  // out of range reads as infinity
}

TEST(CompareTest, FloatTextTokensMustMatchAsText) {
  const CompareSpec spec{CompareMode::kFloat};
  EXPECT_TRUE(Compare(spec, "YES 0.5", "YES 0.50000001").equal);
  EXPECT_FALSE(Compare(spec, "yes 0.5", "YES 0.5").equal);
  EXPECT_FALSE(Compare(spec, "abc", "1").equal);     // a number was expected
  EXPECT_FALSE(Compare(spec, "0x10", "16").equal);   // hex is not a number here
}

TEST(CompareTest, ParseNumberIsStrict) {
  EXPECT_EQ(ParseNumber("42"), 42.0);
  EXPECT_EQ(ParseNumber("-1.5e-3"), -1.5e-3);
  EXPECT_EQ(ParseNumber("+.5"), 0.5);
  EXPECT_EQ(ParseNumber("5."), 5.0);
  EXPECT_EQ(ParseNumber("-INF"), -HUGE_VAL);
  EXPECT_TRUE(std::isnan(*ParseNumber("nan")));
  for (const char* bad : {"", "+", ".", "e5", "1e", "1e+", "1.2.3", "0x1p3", "1_000", "12a",
                          "--1", "nan(1)", "in"}) {
    EXPECT_EQ(ParseNumber(bad), std::nullopt) << bad;
  }
}

TEST(CompareTest, QuotesAreSafeForAnyBytes) {
  Comparison c = Compare({CompareMode::kTokens}, "\xff\x01\"\\", "x");
  EXPECT_FALSE(c.equal);
  EXPECT_EQ(c.difference, "token 1: expected \"x\", got \"\xEF\xBF\xBD\\x01\\\"\\\\\"");
}

TEST(CompareTest, ModeNamesRoundTrip) {
  for (CompareMode m : {CompareMode::kExact, CompareMode::kTrimTrailingWhitespace,
                        CompareMode::kTokens, CompareMode::kFloat}) {
    EXPECT_EQ(ParseCompareMode(CompareModeName(m)), m);
  }
  EXPECT_EQ(ParseCompareMode("Exact"), std::nullopt);
}

}  // namespace
}  // namespace coderun::judge
