#include "leader/elector.h"

#include <gtest/gtest.h>

#include "kube/testing/fake_client.h"
#include "common/testing/fake_clock.h"

namespace coderun::leader {
namespace {

ElectorOptions Named(const std::string& identity) {
  ElectorOptions o;
  o.lease_namespace = "sys";
  o.lease_name = "lock";
  o.identity = identity;
  o.lease_duration = std::chrono::seconds(15);
  return o;
}

// The outcome of one attempt; an API error fails the test.
bool Try(Elector& e) {
  auto got = e.TryAcquireOrRenew({});
  EXPECT_TRUE(got.ok()) << got.status();
  return got.ok() && *got;
}

std::string Holder(informer::FakeClient& api) {
  return (*api.Get({}, kube::kLeases, "sys", "lock"))["spec"].value("holderIdentity", "");
}

TEST(ElectorTest, FirstCandidateCreatesTheLeaseAndRenewsIt) {
  informer::FakeClient api;
  FakeClock clock;
  Elector a(api, Named("a"), clock);
  ASSERT_EQ(Try(a), true);
  EXPECT_TRUE(a.leading());
  EXPECT_EQ(Holder(api), "a");
  std::string first = (*api.Get({}, kube::kLeases, "sys", "lock"))["spec"]["renewTime"];
  clock.Advance(std::chrono::seconds(2));
  ASSERT_EQ(Try(a), true);
  EXPECT_NE((*api.Get({}, kube::kLeases, "sys", "lock"))["spec"]["renewTime"], first);
}

TEST(ElectorTest, StandbyTakesOverOnlyAfterTheLeaseWentUnrenewedForItsDuration) {
  informer::FakeClient api;
  FakeClock clock;
  Elector a(api, Named("a"), clock), b(api, Named("b"), clock);
  ASSERT_EQ(Try(a), true);
  EXPECT_EQ(Try(b), false);  // first sight of a's record
  clock.Advance(std::chrono::seconds(10));
  ASSERT_EQ(Try(a), true);   // a renews: b's observation restarts
  clock.Advance(std::chrono::seconds(10));
  EXPECT_EQ(Try(b), false);
  clock.Advance(std::chrono::seconds(10));
  EXPECT_EQ(Try(b), false);  // 10 s since it saw a's renewal: not yet
  clock.Advance(std::chrono::seconds(6));   // a is gone: 16 s unrenewed
  EXPECT_EQ(Try(b), true);
  EXPECT_EQ(Holder(api), "b");
  EXPECT_EQ((*api.Get({}, kube::kLeases, "sys", "lock"))["spec"]["leaseTransitions"], 1);
  EXPECT_EQ(Try(a), false) << "the old leader sees it lost";
  EXPECT_FALSE(a.leading());
}

TEST(ElectorTest, ReleaseLetsTheStandbyTakeOverAtOnce) {
  informer::FakeClient api;
  FakeClock clock;
  Elector a(api, Named("a"), clock), b(api, Named("b"), clock);
  ASSERT_EQ(Try(a), true);
  EXPECT_EQ(Try(b), false);
  a.Release();
  EXPECT_FALSE(a.leading());
  EXPECT_EQ(Holder(api), "");
  EXPECT_EQ(Try(b), true);
  EXPECT_EQ(Holder(api), "b");
}

}  // namespace
}  // namespace coderun::leader
