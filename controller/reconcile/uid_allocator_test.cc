#include "reconcile/uid_allocator.h"

#include <gtest/gtest.h>

#include <set>
#include <thread>
#include <vector>

namespace coderun::reconcile {
namespace {

TEST(UidAllocatorTest, AllocatesDistinctUidsAndIsIdempotentPerPod) {
  UidAllocator a(1000, 1002);
  auto x = a.Allocate("ns/a");
  auto y = a.Allocate("ns/b");
  ASSERT_TRUE(x && y);
  EXPECT_NE(*x, *y);
  EXPECT_EQ(a.Allocate("ns/a"), x);
  auto z = a.Allocate("ns/c");
  ASSERT_TRUE(z);
  EXPECT_FALSE(a.Allocate("ns/d").has_value()) << "range exhausted";
  a.Release("ns/b");
  EXPECT_EQ(a.Allocate("ns/d"), y);
}

TEST(UidAllocatorTest, RebuiltFromPodsSeenAfterRestart) {
  UidAllocator a(1000, 1001);
  a.PodSeen("ns/old", 1000);  // from the informer's initial list
  EXPECT_EQ(a.Allocate("ns/new"), 1001);
  EXPECT_FALSE(a.Allocate("ns/other").has_value());
  a.PodGone("ns/old");
  EXPECT_EQ(a.Allocate("ns/other"), 1000);
}

TEST(UidAllocatorTest, ReservationBecomesThePodAndIsFreedOnlyWhenItIsGone) {
  UidAllocator a(1000, 1000);
  auto uid = a.Allocate("ns/p");
  a.PodSeen("ns/p", *uid);
  EXPECT_FALSE(a.Allocate("ns/q").has_value());
  a.PodGone("ns/p");
  EXPECT_EQ(a.Allocate("ns/q"), 1000);
}

// Attack: an `edit` user creates a Pod with the managed-by label and a live run's runAsUser,
// then deletes it. The run's UID must stay held, so no second run shares it.
TEST(UidAllocatorTest, LookAlikePodCannotFreeALiveRunsUid) {
  UidAllocator a(1000, 1001);
  auto uid = a.Allocate("ns/run-pod");
  ASSERT_TRUE(uid);
  a.PodSeen("ns/run-pod", *uid);
  a.PodSeen("ns/impostor", *uid);
  a.PodGone("ns/impostor");
  EXPECT_EQ(a.InUse(), 1u);
  auto next = a.Allocate("ns/other-run");
  ASSERT_TRUE(next);
  EXPECT_NE(*next, *uid) << "the live run's UID was handed out again";
  EXPECT_FALSE(a.Allocate("ns/third").has_value());
}

// The same attack against a reservation (the Pod not yet in the cache).
TEST(UidAllocatorTest, LookAlikePodCannotFreeAReservation) {
  UidAllocator a(1000, 1000);
  auto uid = a.Allocate("ns/run-pod");
  a.PodSeen("ns/impostor", *uid);
  a.PodGone("ns/impostor");
  EXPECT_FALSE(a.Allocate("ns/other").has_value());
  a.PodSeen("ns/run-pod", *uid);
  a.PodGone("ns/run-pod");
  EXPECT_EQ(a.Allocate("ns/other"), 1000);
}

// A Pod seen under a reserved key with another UID (a look-alike holding that name) does not
// take over the reservation: the reserved UID stays held until Release.
TEST(UidAllocatorTest, ReservationSurvivesALookAlikeUnderItsKey) {
  UidAllocator a(1000, 1001);
  auto uid = a.Allocate("ns/p");
  a.PodSeen("ns/p", *uid == 1000 ? 1001 : 1000);
  EXPECT_FALSE(a.Allocate("ns/q").has_value());
  a.Release("ns/p");
  EXPECT_EQ(a.Allocate("ns/q"), uid);
}

TEST(UidAllocatorTest, ConcurrentAllocationsNeverCollide) {
  UidAllocator a(1000, 1999);
  std::vector<std::thread> threads;
  std::vector<std::vector<std::int64_t>> got(4);
  for (int t = 0; t < 4; ++t) {
    threads.emplace_back([&, t] {
      for (int i = 0; i < 200; ++i) {
        got[t].push_back(*a.Allocate("ns/" + std::to_string(t) + "-" + std::to_string(i)));
      }
    });
  }
  for (auto& th : threads) th.join();
  std::set<std::int64_t> all;
  for (auto& g : got) all.insert(g.begin(), g.end());
  EXPECT_EQ(all.size(), 800u);
}

}  // namespace
}  // namespace coderun::reconcile
