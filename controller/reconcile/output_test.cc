#include "reconcile/output.h"

#include <gtest/gtest.h>

namespace coderun::reconcile {
namespace {

TEST(OutputTest, CountsTheApiserversWorstCaseEscaping) {
  EXPECT_EQ(ApiEncodedSize("hello"), 5u);
  EXPECT_EQ(ApiEncodedSize("a\nb"), 4u);
  EXPECT_EQ(ApiEncodedSize("<&>"), 18u);
  EXPECT_EQ(ApiEncodedSize("\x01"), 6u);
  EXPECT_EQ(ApiEncodedSize("\"\\"), 4u);
  EXPECT_EQ(ApiEncodedSize("\xe2\x80\xa8"), 6u);     // U+2028
  EXPECT_EQ(ApiEncodedSize("\xe2\x82\xac"), 3u);     // €
  EXPECT_EQ(ApiEncodedSize("\xf0\x9f\x98\x80"), 4u); // 😀
}

TEST(OutputTest, CutsOnCharacterBoundaries) {
  std::string s = "ab\xe2\x82\xac" "cd";
  EXPECT_TRUE(CutToEncodedSize(s, 4));
  EXPECT_EQ(s, "ab");
  s = "ab\xe2\x82\xac" "cd";
  EXPECT_FALSE(CutToEncodedSize(s, 7));
  EXPECT_EQ(s, "ab\xe2\x82\xac" "cd");
  s = "<<<";
  EXPECT_TRUE(CutToEncodedSize(s, 13));
  EXPECT_EQ(s, "<<");
}

}  // namespace
}  // namespace coderun::reconcile
