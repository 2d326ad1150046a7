#include "api/utf8.h"

#include <gtest/gtest.h>

#include <nlohmann/json.hpp>
#include <random>

namespace coderun::api {
namespace {

const std::string kFffd(kReplacementChar);

TEST(Utf8Test, ValidTextIsUnchanged) {
  const std::string text = "plain, h\xC3\xA9, \xE2\x9C\x93, \xF0\x9F\x98\x80, \x7F, \x01";
  EXPECT_EQ(SanitizeUtf8(text), text);
}

TEST(Utf8Test, EachMaximalSubpartBecomesOneReplacement) {
  EXPECT_EQ(SanitizeUtf8("\xFF\xFE"), kFffd + kFffd);
  EXPECT_EQ(SanitizeUtf8("a\xE2\x9C"), "a" + kFffd);            // cut 3-byte sequence
  EXPECT_EQ(SanitizeUtf8("\xE2\x9C" "b"), kFffd + "b");
  EXPECT_EQ(SanitizeUtf8("\xC0\xAF"), kFffd + kFffd);           // overlong lead
  EXPECT_EQ(SanitizeUtf8("\xED\xA0\x80"), kFffd + kFffd + kFffd);  // surrogate
  EXPECT_EQ(SanitizeUtf8("\xF4\x90\x80\x80"), kFffd + kFffd + kFffd + kFffd);  // > U+10FFFF
  EXPECT_EQ(SanitizeUtf8("\xF0\x9F\x98"), kFffd);
  EXPECT_EQ(SanitizeUtf8(std::string("\0x", 2)), std::string("\0x", 2));
}

TEST(Utf8Test, SanitizedRandomBytesAreValidJson) {
  std::mt19937 rng(42);
  for (int i = 0; i < 2000; ++i) {
    std::string bytes(rng() % 40, '\0');
    for (char& c : bytes) c = static_cast<char>(rng());
    const std::string clean = SanitizeUtf8(bytes);
    // nlohmann throws on invalid UTF-8 with the default error handler.
    const std::string dumped = nlohmann::json(clean).dump();
    EXPECT_EQ(JsonEncodedSize(clean) + 2, dumped.size());
    EXPECT_EQ(SanitizeUtf8(clean), clean);
  }
}

TEST(Utf8Test, JsonEncodedSizeMatchesNlohmannForEveryAsciiByte) {
  for (int c = 0; c < 128; ++c) {
    const std::string s(1, static_cast<char>(c));
    EXPECT_EQ(JsonEncodedSize(s) + 2, nlohmann::json(s).dump().size()) << c;
  }
}

TEST(Utf8Test, CutKeepsWholeUnitsWithinTheEncodedLimit) {
  const std::string text = "ab\xE2\x9C\x93\n";  // encoded sizes 1 1 3 2
  EXPECT_EQ(CutToEncodedSize(text, 0).text, "");
  EXPECT_EQ(CutToEncodedSize(text, 2).text, "ab");
  EXPECT_EQ(CutToEncodedSize(text, 4).text, "ab");
  EXPECT_EQ(CutToEncodedSize(text, 5).text, "ab\xE2\x9C\x93");
  EXPECT_EQ(CutToEncodedSize(text, 5).raw_bytes, 5u);
  EXPECT_EQ(CutToEncodedSize(text, 7).raw_bytes, 6u);
  // An invalid byte is one raw byte, three encoded.
  const CutText cut = CutToEncodedSize("\xFFz", 3);
  EXPECT_EQ(cut.text, kFffd);
  EXPECT_EQ(cut.raw_bytes, 1u);
}

}  // namespace
}  // namespace coderun::api
