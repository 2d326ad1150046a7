#include "api/input_digest.h"

#include <gtest/gtest.h>

namespace coderun::api {
namespace {

TEST(InputDigestTest, AllEmptyIsTheHashOf32ZeroBytes) {
  // Four zero lengths of 8 bytes each: SHA-256 of 32 zero bytes (a published value).
  EXPECT_EQ(InputDigest("", "", "", ""),
            "66687aadf862bd776c8fc18b8e9f8e20089714856ee233b3902a591d0d5f2925");
}

TEST(InputDigestTest, KnownVector) {
  // python3: h = sha256(); for f in (b'nonce-1', b'print(1)\n', b'', b'["a"]'):
  //            h.update(struct.pack('<Q', len(f))); h.update(f)
  EXPECT_EQ(InputDigest("nonce-1", "print(1)\n", "", R"(["a"])"),
            "74cb08941b73d4cc225f7fbea26f127ccfb4a463169fae23b95ceec876a3845f");
}

TEST(InputDigestTest, FramingKeepsFieldsApart) {
  // The same concatenated bytes split differently give different digests.
  EXPECT_NE(InputDigest("ab", "c", "", ""), InputDigest("a", "bc", "", ""));
  EXPECT_NE(InputDigest("", "x", "", ""), InputDigest("", "", "x", ""));
  EXPECT_NE(InputDigest("n", "code", "", ""), InputDigest("m", "code", "", ""));
  const std::string with_nul("a\0b", 3);
  EXPECT_NE(InputDigest("", with_nul, "", ""), InputDigest("", "a", "", ""));
}

}  // namespace
TEST(InputDigestTest, TestsJsonCountsOnlyWhenPresent) {
  // Without tests the digest is the four-field one; with them, the tests are bound too.
  EXPECT_EQ(InputDigest("n", "c", "s", "[]", ""), InputDigest("n", "c", "s", "[]"));
  EXPECT_NE(InputDigest("n", "c", "s", "[]", "[{}]"), InputDigest("n", "c", "s", "[]"));
  EXPECT_NE(InputDigest("n", "c", "s", "[]", R"([{"name":"a"}])"),
            InputDigest("n", "c", "s", "[]", R"([{"name":"b"}])"));
  // The fifth field is framed like the others: moving bytes between fields changes it.
  EXPECT_NE(InputDigest("", "", "", "x", "y"), InputDigest("", "", "", "", "xy"));
}

}  // namespace coderun::api
