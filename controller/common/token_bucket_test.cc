#include "common/token_bucket.h"

#include <gtest/gtest.h>

namespace coderun {
namespace {

using std::chrono::milliseconds;
using std::chrono::nanoseconds;
using std::chrono::seconds;

const SteadyTime t0{seconds(1000)};

TEST(TokenBucketTest, BurstIsFreeThenPacedAtQps) {
  TokenBucket bucket(10, 3, t0);
  EXPECT_EQ(bucket.Reserve(t0), nanoseconds::zero());
  EXPECT_EQ(bucket.Reserve(t0), nanoseconds::zero());
  EXPECT_EQ(bucket.Reserve(t0), nanoseconds::zero());
  EXPECT_EQ(bucket.Reserve(t0), milliseconds(100));
  EXPECT_EQ(bucket.Reserve(t0), milliseconds(200));
  // After a second, 10 tokens refilled; 2 were owed, so the next is free.
  EXPECT_EQ(bucket.Reserve(t0 + seconds(1)), nanoseconds::zero());
}

TEST(TokenBucketTest, RefillsWithTimeButNeverBeyondBurst) {
  TokenBucket bucket(2, 2, t0);
  bucket.Reserve(t0);
  bucket.Reserve(t0);
  EXPECT_EQ(bucket.Reserve(t0), milliseconds(500));
  // Long idle: full again, but only `burst` tokens.
  const SteadyTime later = t0 + seconds(100);
  EXPECT_EQ(bucket.Reserve(later), nanoseconds::zero());
  EXPECT_EQ(bucket.Reserve(later), nanoseconds::zero());
  EXPECT_EQ(bucket.Reserve(later), milliseconds(500));
}

TEST(TokenBucketTest, TimeGoingBackwardsRefillsNothing) {
  TokenBucket bucket(1, 1, t0);
  EXPECT_EQ(bucket.Reserve(t0), nanoseconds::zero());
  EXPECT_EQ(bucket.Reserve(t0 - seconds(5)), seconds(1));
}

TEST(TokenBucketTest, ZeroQpsIsUnlimitedAndBurstBelowOneIsOne) {
  TokenBucket off(0, 1, t0);
  for (int i = 0; i < 1000; ++i) ASSERT_EQ(off.Reserve(t0), nanoseconds::zero());
  TokenBucket tiny(1, 0, t0);
  EXPECT_EQ(tiny.Reserve(t0), nanoseconds::zero());
  EXPECT_EQ(tiny.Reserve(t0), seconds(1));
}

}  // namespace
}  // namespace coderun
