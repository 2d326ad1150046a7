#include "common/time.h"

#include <gtest/gtest.h>

namespace coderun {
namespace {

TEST(TimeTest, FormatsWithAndWithoutFractions) {
  WallTime t{std::chrono::microseconds(1795675072123456)};
  EXPECT_EQ(FormatRfc3339(t), "2026-11-26T06:37:52Z");
  EXPECT_EQ(FormatRfc3339(t, 3), "2026-11-26T06:37:52.123Z");
  EXPECT_EQ(FormatRfc3339(t, 6), "2026-11-26T06:37:52.123456Z");
  EXPECT_EQ(FormatRfc3339(WallTime{}), "1970-01-01T00:00:00Z");
  // Before the epoch the fraction still counts up from the whole second below.
  EXPECT_EQ(FormatRfc3339(WallTime{std::chrono::milliseconds(-1)}, 3),
            "1969-12-31T23:59:59.999Z");
}

TEST(TimeTest, ParsesZuluTimesWithAndWithoutFractions) {
  EXPECT_EQ(ParseRfc3339Seconds("2026-11-26T06:37:52Z"), 1795675072);
  EXPECT_EQ(ParseRfc3339Seconds("2026-11-26T06:37:52.999999Z"), 1795675072);
  EXPECT_EQ(ParseRfc3339Seconds("2026-11-26T06:37:52.5z"), 1795675072);
  std::optional<WallTime> t = ParseRfc3339("2026-11-26T06:37:52.123456789Z");
  ASSERT_TRUE(t.has_value());
  EXPECT_EQ(FormatRfc3339(*t, 6), "2026-11-26T06:37:52.123456Z");
}

TEST(TimeTest, OffsetsAreApplied) {
  EXPECT_EQ(ParseRfc3339Seconds("2026-11-26T08:37:52+02:00"), 1795675072);
  EXPECT_EQ(ParseRfc3339Seconds("2026-11-26T01:07:52.25-05:30"), 1795675072);
  EXPECT_EQ(ParseRfc3339Seconds("2026-11-26T06:37:52+00:00"), 1795675072);
}

TEST(TimeTest, RoundTrips) {
  WallTime t{std::chrono::seconds(1795675072)};
  EXPECT_EQ(ParseRfc3339(FormatRfc3339(t)), t);
  WallTime micro{std::chrono::microseconds(1795675072000001)};
  EXPECT_EQ(ParseRfc3339(FormatRfc3339(micro, 6)), micro);
}

TEST(TimeTest, RefusesGarbageAndTrailingJunk) {
  for (const char* text : {
           "", "yesterday", "2026-11-26", "2026-11-26T06:37:52",  // no zone
           "2026-11-26T06:37:52Zjunk", "2026-11-26T06:37:52Z ", " 2026-11-26T06:37:52Z",
           "2026-11-26T06:37:52+02:00x", "2026-11-26T06:37:52+02", "2026-11-26T06:37:52+0200",
           "2026-11-26 06:37:52Z", "2026-13-26T06:37:52Z", "2026-11-26T25:37:52Z",
           "2026-11-26T06:37:52.Z", "2026-11-26T06:37Z"}) {
    EXPECT_FALSE(ParseRfc3339(text).has_value()) << text;
    EXPECT_FALSE(ParseRfc3339Seconds(text).has_value()) << text;
  }
}

}  // namespace
}  // namespace coderun
