#include "kube/rate_limiter.h"

#include <algorithm>
#include <mutex>
#include <thread>
#include <vector>

#include "common/testing/fake_clock.h"
#include "gtest/gtest.h"

namespace coderun::kube {
namespace {

using std::chrono::milliseconds;
using std::chrono::nanoseconds;

// A limiter whose sleeps advance the fake clock and are recorded.
struct Fixture {
  FakeClock clock;
  std::vector<nanoseconds> sleeps;
  std::mutex mu;
  RateLimiter Make(double qps, int burst) {
    return RateLimiter(qps, burst, clock, [this](const Context&, nanoseconds d) {
      std::lock_guard<std::mutex> lock(mu);
      sleeps.push_back(d);
      clock.Advance(d);
      return true;
    });
  }
};

TEST(RateLimiterTest, BurstPassesThenOneTokenPerInterval) {
  Fixture f;
  RateLimiter limiter = f.Make(/*qps=*/10, /*burst=*/3);
  for (int i = 0; i < 3; ++i) EXPECT_TRUE(limiter.Wait().ok());
  EXPECT_TRUE(f.sleeps.empty());
  EXPECT_TRUE(limiter.Wait().ok());
  ASSERT_EQ(f.sleeps.size(), 1u);
  EXPECT_EQ(f.sleeps[0], milliseconds(100));
  EXPECT_TRUE(limiter.Wait().ok());
  ASSERT_EQ(f.sleeps.size(), 2u);
  EXPECT_EQ(f.sleeps[1], milliseconds(100));
}

TEST(RateLimiterTest, RefillsWithTimeButNeverBeyondBurst) {
  Fixture f;
  RateLimiter limiter = f.Make(/*qps=*/2, /*burst=*/2);
  EXPECT_TRUE(limiter.Wait().ok());
  EXPECT_TRUE(limiter.Wait().ok());
  EXPECT_TRUE(f.sleeps.empty());
  f.clock.Advance(std::chrono::seconds(100));
  EXPECT_TRUE(limiter.Wait().ok());
  EXPECT_TRUE(limiter.Wait().ok());
  EXPECT_TRUE(f.sleeps.empty());
  EXPECT_TRUE(limiter.Wait().ok());
  ASSERT_EQ(f.sleeps.size(), 1u);
  EXPECT_EQ(f.sleeps[0], milliseconds(500));
}

TEST(RateLimiterTest, ZeroQpsDisablesLimiting) {
  Fixture f;
  RateLimiter limiter = f.Make(/*qps=*/0, /*burst=*/1);
  for (int i = 0; i < 1000; ++i) EXPECT_TRUE(limiter.Wait().ok());
  EXPECT_TRUE(f.sleeps.empty());
}

TEST(RateLimiterTest, ConcurrentWaitersReserveDistinctSlots) {
  FakeClock clock;
  std::mutex mu;
  std::vector<nanoseconds> sleeps;
  // Sleeps are recorded but do not advance the clock: each waiter must get its own slot.
  RateLimiter limiter(/*qps=*/100, /*burst=*/1, clock, [&](const Context&, nanoseconds d) {
    std::lock_guard<std::mutex> lock(mu);
    sleeps.push_back(d);
    return true;
  });
  std::vector<std::thread> threads;
  for (int i = 0; i < 8; ++i) threads.emplace_back([&] { EXPECT_TRUE(limiter.Wait().ok()); });
  for (std::thread& t : threads) t.join();
  ASSERT_EQ(sleeps.size(), 7u);  // the first took the burst token
  std::sort(sleeps.begin(), sleeps.end());
  for (size_t i = 0; i < sleeps.size(); ++i) {
    EXPECT_EQ(sleeps[i], milliseconds(10) * static_cast<int>(i + 1));
  }
}

TEST(RateLimiterTest, RealClockDefaultActuallyBlocks) {
  RateLimiter limiter(/*qps=*/50, /*burst=*/1);
  auto start = std::chrono::steady_clock::now();
  EXPECT_TRUE(limiter.Wait().ok());
  EXPECT_TRUE(limiter.Wait().ok());
  EXPECT_TRUE(limiter.Wait().ok());
  EXPECT_GE(std::chrono::steady_clock::now() - start, milliseconds(35));
}

TEST(RateLimiterTest, SlotAfterTheDeadlineFailsAtOnce) {
  Fixture f;
  RateLimiter limiter = f.Make(/*qps=*/1, /*burst=*/1);
  ASSERT_TRUE(limiter.Wait().ok());
  // The next slot is a second away; the caller has 10 ms.
  absl::Status st = limiter.Wait(Context().WithTimeout(milliseconds(10)));
  EXPECT_TRUE(absl::IsDeadlineExceeded(st)) << st;
  EXPECT_TRUE(f.sleeps.empty());
}

TEST(RateLimiterTest, CancelEndsTheWait) {
  RateLimiter limiter(/*qps=*/0.001, /*burst=*/1);  // the second slot is 1000 s away
  ASSERT_TRUE(limiter.Wait().ok());
  CancelSource stop;
  std::thread canceller([&] {
    std::this_thread::sleep_for(milliseconds(20));
    stop.Cancel();
  });
  absl::Status st = limiter.Wait(stop.context());
  canceller.join();
  EXPECT_TRUE(absl::IsCancelled(st)) << st;
}

}  // namespace
}  // namespace coderun::kube
