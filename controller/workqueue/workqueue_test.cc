#include "workqueue/workqueue.h"

#include <atomic>
#include <functional>
#include <thread>
#include <vector>

#include "common/testing/eventually.h"
#include "common/testing/fake_clock.h"
#include "gmock/gmock.h"
#include "gtest/gtest.h"

namespace coderun::workqueue {
namespace {

using coderun::testing::Eventually;

using std::chrono::milliseconds;
using std::chrono::minutes;
using std::chrono::seconds;

QueueOptions FakeClockOptions() {
  QueueOptions o;
  o.clock_recheck = milliseconds(1);
  o.qps = 0;  // bucket off unless a test wants it
  return o;
}

TEST(RateLimitingQueueTest, DeduplicatesWaitingKeys) {
  RateLimitingQueue q;
  q.Add("a");
  q.Add("b");
  q.Add("a");
  EXPECT_EQ(q.Len(), 2u);
  EXPECT_EQ(q.Get(), "a");
  EXPECT_EQ(q.Get(), "b");
  EXPECT_EQ(q.Len(), 0u);
}

TEST(RateLimitingQueueTest, KeyAddedWhileProcessingIsRequeuedAtDoneOnlyOnce) {
  RateLimitingQueue q;
  q.Add("a");
  ASSERT_EQ(q.Get(), "a");
  q.Add("a");
  q.Add("a");
  EXPECT_EQ(q.Len(), 0u);  // not handed out while a worker holds it
  q.Done("a");
  EXPECT_EQ(q.Len(), 1u);
  EXPECT_EQ(q.Get(), "a");
  q.Done("a");
  EXPECT_EQ(q.Len(), 0u);
}

TEST(RateLimitingQueueTest, DoneForAKeyNotHandedOutChangesNothing) {
  RateLimitingQueue q;
  q.Add("a");
  q.Done("a");
  EXPECT_EQ(q.Len(), 1u);
  EXPECT_EQ(q.Get(), "a");
}

TEST(RateLimitingQueueTest, GetReturnsNulloptAtOnceAfterShutDownEvenWithQueuedKeys) {
  RateLimitingQueue q;
  q.Add("a");
  ASSERT_EQ(q.Get(), "a");
  q.Add("b");
  q.Add("a");  // dirty while processing
  q.ShutDown();
  EXPECT_TRUE(q.ShuttingDown());
  EXPECT_EQ(q.Get(), std::nullopt);
  q.Done("a");  // allowed after shutdown; does not requeue
  EXPECT_EQ(q.Get(), std::nullopt);
}

TEST(RateLimitingQueueTest, ShutDownUnblocksGetAndIgnoresLaterAdds) {
  RateLimitingQueue q;
  std::atomic<int> returned{0};
  std::vector<std::thread> workers;
  for (int i = 0; i < 3; ++i) {
    workers.emplace_back([&] {
      EXPECT_EQ(q.Get(), std::nullopt);
      ++returned;
    });
  }
  q.ShutDown();
  for (auto& w : workers) w.join();
  EXPECT_EQ(returned, 3);
  q.Add("x");
  EXPECT_EQ(q.Len(), 0u);
  EXPECT_EQ(q.Get(), std::nullopt);
}

TEST(RateLimitingQueueTest, AddAfterWaitsForTheClockAndEarliestWins) {
  FakeClock clock;
  RateLimitingQueue q(FakeClockOptions(), clock);
  q.AddAfter("a", seconds(10));
  q.AddAfter("a", seconds(30));  // later: ignored
  q.AddAfter("b", seconds(20));
  q.AddAfter("b", seconds(5));   // earlier: replaces
  EXPECT_EQ(q.NumDelayed(), 2u);
  EXPECT_EQ(q.Len(), 0u);
  clock.Advance(seconds(5));
  EXPECT_EQ(q.Len(), 1u);
  EXPECT_EQ(q.Get(), "b");
  clock.Advance(seconds(4));
  EXPECT_EQ(q.Len(), 0u);
  clock.Advance(seconds(1));
  EXPECT_EQ(q.Get(), "a");
  clock.Advance(seconds(100));
  EXPECT_EQ(q.NumDelayed(), 0u);
  EXPECT_EQ(q.Len(), 0u);
}

TEST(RateLimitingQueueTest, BlockedGetWakesWhenDelayedKeyBecomesDue) {
  FakeClock clock;
  RateLimitingQueue q(FakeClockOptions(), clock);
  std::atomic<bool> got{false};
  std::thread worker([&] {
    EXPECT_EQ(q.Get(), "later");
    got = true;
  });
  q.AddAfter("later", minutes(1));
  clock.Advance(seconds(59));
  EXPECT_FALSE(got);
  clock.Advance(seconds(1));
  EXPECT_TRUE(Eventually([&] { return got.load(); }, seconds(5)));
  worker.join();
}

TEST(RateLimitingQueueTest, RealClockDelayedAddArrives) {
  RateLimitingQueue q;
  auto start = std::chrono::steady_clock::now();
  q.AddAfter("k", milliseconds(20));
  EXPECT_EQ(q.Get(), "k");
  EXPECT_GE(std::chrono::steady_clock::now() - start, milliseconds(20));
}

TEST(RateLimitingQueueTest, RateLimitedBackoffGrowsAndForgetResets) {
  FakeClock clock;
  QueueOptions o = FakeClockOptions();
  o.backoff_base = milliseconds(5);
  o.backoff_cap = milliseconds(40);
  RateLimitingQueue q(o, clock);
  // Requeue n waits 5ms * 2^n, capped at 40ms.
  for (int n = 0; n < 6; ++n) {
    EXPECT_EQ(q.NumRequeues("k"), n);
    q.AddRateLimited("k");
    Duration expect = std::min<Duration>(o.backoff_base * (1 << n), o.backoff_cap);
    clock.Advance(expect - milliseconds(1));
    EXPECT_EQ(q.Len(), 0u) << "requeue " << n;
    clock.Advance(milliseconds(1));
    ASSERT_EQ(q.Get(), "k") << "requeue " << n;
    q.Done("k");
  }
  q.Forget("k");
  EXPECT_EQ(q.NumRequeues("k"), 0);
  q.AddRateLimited("k");
  clock.Advance(milliseconds(5));
  EXPECT_EQ(q.Len(), 1u);
}

TEST(RateLimitingQueueTest, TotalRetriesCountsEveryRateLimitedAdd) {
  FakeClock clock;
  RateLimitingQueue q(FakeClockOptions(), clock);
  EXPECT_EQ(q.TotalRetries(), 0u);
  q.AddRateLimited("a");
  q.AddRateLimited("a");
  q.AddRateLimited("b");
  q.Forget("a");
  q.Add("c");  // not a retry
  EXPECT_EQ(q.TotalRetries(), 3u);
  q.ShutDown();
  q.AddRateLimited("a");  // ignored after shutdown
  EXPECT_EQ(q.TotalRetries(), 3u);
}

TEST(RateLimitingQueueTest, GlobalBucketPacesManyKeys) {
  FakeClock clock;
  QueueOptions o = FakeClockOptions();
  o.qps = 10;
  o.burst = 2;
  o.backoff_base = milliseconds(1);
  RateLimitingQueue q(o, clock);
  q.AddRateLimited("a");  // burst
  q.AddRateLimited("b");  // burst
  q.AddRateLimited("c");  // 100 ms
  q.AddRateLimited("d");  // 200 ms
  clock.Advance(milliseconds(1));
  EXPECT_EQ(q.Len(), 2u);
  clock.Advance(milliseconds(99));
  EXPECT_EQ(q.Len(), 3u);
  clock.Advance(milliseconds(100));
  EXPECT_EQ(q.Len(), 4u);
}

TEST(RateLimitingQueueTest, StressNoKeyIsProcessedByTwoWorkersAtOnce) {
  constexpr int kWorkers = 8, kKeys = 16, kAdds = 20000;
  RateLimitingQueue q;
  std::vector<std::atomic<int>> holders(kKeys);
  std::atomic<int> violations{0}, processed{0};
  std::vector<std::thread> workers;
  for (int w = 0; w < kWorkers; ++w) {
    workers.emplace_back([&] {
      while (auto key = q.Get()) {
        int k = std::stoi(*key);
        if (holders[k].fetch_add(1) != 0) ++violations;
        std::this_thread::yield();
        holders[k].fetch_sub(1);
        ++processed;
        q.Done(*key);
      }
    });
  }
  std::vector<std::thread> producers;
  for (int p = 0; p < 2; ++p) {
    producers.emplace_back([&, p] {
      for (int i = 0; i < kAdds; ++i) q.Add(std::to_string((i * 7 + p) % kKeys));
    });
  }
  for (auto& p : producers) p.join();
  EXPECT_TRUE(Eventually([&] { return q.Len() == 0; }, seconds(5)));
  q.ShutDown();
  for (auto& w : workers) w.join();
  EXPECT_EQ(violations, 0);
  EXPECT_GE(processed, kKeys);
  EXPECT_LE(processed, 2 * kAdds);
}

}  // namespace
}  // namespace coderun::workqueue
