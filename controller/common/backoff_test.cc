#include "common/backoff.h"

#include <gtest/gtest.h>

namespace coderun {
namespace {

using std::chrono::milliseconds;
using std::chrono::minutes;
using std::chrono::nanoseconds;

TEST(BackoffTest, DoublesFromInitialAndStopsAtCap) {
  Backoff b(milliseconds(5), minutes(5));
  EXPECT_EQ(b.Delay(0), milliseconds(5));
  EXPECT_EQ(b.Delay(1), milliseconds(10));
  EXPECT_EQ(b.Delay(10), milliseconds(5 * 1024));
  EXPECT_EQ(b.Delay(15), milliseconds(163840));
  EXPECT_EQ(b.Delay(16), minutes(5));
  EXPECT_EQ(b.Delay(1000000), minutes(5));  // no overflow
  EXPECT_EQ(b.Delay(-1), milliseconds(5));
}

TEST(BackoffTest, CapBelowInitialIsRaisedToItAndZeroInitialIsZero) {
  Backoff above(milliseconds(60), milliseconds(40));
  EXPECT_EQ(above.Delay(0), milliseconds(60));
  EXPECT_EQ(above.Delay(5), milliseconds(60));
  EXPECT_EQ(Backoff(nanoseconds::zero(), milliseconds(40)).Delay(3), nanoseconds::zero());
}

TEST(BackoffTest, NextCountsAttemptsAndResetStartsOver) {
  Backoff b(milliseconds(100), milliseconds(350));
  EXPECT_EQ(b.Next(), milliseconds(100));
  EXPECT_EQ(b.Next(), milliseconds(200));
  EXPECT_EQ(b.Next(), milliseconds(350));
  EXPECT_EQ(b.Next(), milliseconds(350));
  EXPECT_EQ(b.attempts(), 4);
  b.Reset();
  EXPECT_EQ(b.attempts(), 0);
  EXPECT_EQ(b.Next(), milliseconds(100));
  for (int i = 0; i < 1000; ++i) b.Next();
  EXPECT_EQ(b.Next(), milliseconds(350));
}

TEST(BackoffTest, JitterStretchesEachDelayByUpToItsFraction) {
  Backoff b(milliseconds(100), milliseconds(1000), 0.2, /*seed=*/42);
  bool stretched = false;
  for (int i = 0; i < 200; ++i) {
    const int attempt = i % 6;
    const nanoseconds exact = std::min<nanoseconds>(milliseconds(100) * (1 << attempt),
                                                    milliseconds(1000));
    const nanoseconds d = b.Delay(attempt);
    EXPECT_GE(d, exact);
    EXPECT_LT(d, exact * 1.2);
    stretched |= d > exact;
  }
  EXPECT_TRUE(stretched);
}

}  // namespace
}  // namespace coderun
