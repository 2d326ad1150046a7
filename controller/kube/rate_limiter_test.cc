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
    return RateLimiter(qps, burst, clock, [this](nanoseconds d) {
      std::lock_guard<std::mutex> lock(mu);
      sleeps.push_back(d);
      clock.Advance(d);
    });
  }
};

TEST(RateLimiterTest, BurstPassesThenOneTokenPerInterval) {
  Fixture f;
  RateLimiter limiter = f.Make(/*qps=*/10, /*burst=*/3);
  for (int i = 0; i < 3; ++i) limiter.Wait();
  EXPECT_TRUE(f.sleeps.empty());
  limiter.Wait();
  ASSERT_EQ(f.sleeps.size(), 1u);
  EXPECT_EQ(f.sleeps[0], milliseconds(100));
  limiter.Wait();
  ASSERT_EQ(f.sleeps.size(), 2u);
  EXPECT_EQ(f.sleeps[1], milliseconds(100));
}

TEST(RateLimiterTest, RefillsWithTimeButNeverBeyondBurst) {
  Fixture f;
  RateLimiter limiter = f.Make(/*qps=*/2, /*burst=*/2);
  limiter.Wait();
  limiter.Wait();
  EXPECT_TRUE(f.sleeps.empty());
  f.clock.Advance(std::chrono::seconds(100));
  limiter.Wait();
  limiter.Wait();
  EXPECT_TRUE(f.sleeps.empty());
  limiter.Wait();
  ASSERT_EQ(f.sleeps.size(), 1u);
  EXPECT_EQ(f.sleeps[0], milliseconds(500));
}

TEST(RateLimiterTest, ZeroQpsDisablesLimiting) {
  Fixture f;
  RateLimiter limiter = f.Make(/*qps=*/0, /*burst=*/1);
  for (int i = 0; i < 1000; ++i) limiter.Wait();
  EXPECT_TRUE(f.sleeps.empty());
}

TEST(RateLimiterTest, ConcurrentWaitersReserveDistinctSlots) {
  FakeClock clock;
  std::mutex mu;
  std::vector<nanoseconds> sleeps;
  // Sleeps are recorded but do not advance the clock: each waiter must get its own slot.
  RateLimiter limiter(/*qps=*/100, /*burst=*/1, clock, [&](nanoseconds d) {
    std::lock_guard<std::mutex> lock(mu);
    sleeps.push_back(d);
  });
  std::vector<std::thread> threads;
  for (int i = 0; i < 8; ++i) threads.emplace_back([&] { limiter.Wait(); });
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
  limiter.Wait();
  limiter.Wait();
  limiter.Wait();
  EXPECT_GE(std::chrono::steady_clock::now() - start, milliseconds(35));
}

}  // namespace
}  // namespace coderun::kube
