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

// The stored size is what Go's encoder writes: checked against its output for a CodeRun
// whose strings need every kind of escape.
TEST(StoredSizeTest, MatchesTheApiserversCompactEncoding) {
  kube::json obj = {{"spec", {{"code", "print('<&>')\n"}, {"stdin", std::string("\x01\"\\", 3)},
                              {"args", {"a", "\u2028"}}, {"limits", {{"pids", 50}}}}},
                    {"status", {{"stdoutTruncated", false}, {"x", nullptr}}}};
  // {"spec":{"args":["a","\u2028"],"code":"print('\u003c\u0026\u003e')\n","limits":{"pids":50},
  //  "stdin":"\u0001\"\\"},"status":{"stdoutTruncated":false,"x":null}}
  const std::string go =
      R"({"spec":{"args":["a","\u2028"],"code":"print('\u003c\u0026\u003e')\n","limits":{"pids":50},"stdin":"\u0001\"\\"},"status":{"stdoutTruncated":false,"x":null}})";
  EXPECT_EQ(StoredSize(obj), go.size());
  EXPECT_EQ(StoredSize(kube::json::object()), 2u);
  EXPECT_EQ(StoredSize(kube::json::array()), 2u);
}

}  // namespace
}  // namespace coderun::reconcile
