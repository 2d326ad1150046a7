#include "common/time.h"

#include <gtest/gtest.h>

namespace coderun {
namespace {

TEST(TimeTest, FormatsWithAndWithoutFractions) {
  WallTime t{std::chrono::microseconds(1795675072123456)};
  EXPECT_EQ(FormatRfc3339(t), "2026-11-26T06:37:52Z");
  EXPECT_EQ(FormatRfc3339(t, 3), "2026-11-26T06:37:52.123Z");
  EXPECT_EQ(FormatRfc3339(t, 6), "2026-11-26T06:37:52.123456Z");
}

TEST(TimeTest, ParsesWholeSecondsAndRefusesGarbage) {
  EXPECT_EQ(ParseRfc3339Seconds("2026-11-26T06:37:52Z"), 1795675072);
  EXPECT_EQ(ParseRfc3339Seconds("2026-11-26T06:37:52.999999Z"), 1795675072);
  EXPECT_FALSE(ParseRfc3339Seconds("yesterday").has_value());
}

}  // namespace
}  // namespace coderun
