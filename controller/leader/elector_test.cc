#include "leader/elector.h"

#include <gtest/gtest.h>

#include <atomic>
#include <future>

#include "common/testing/fake_clock.h"
#include "kube/testing/fake_client.h"
#include "kube/testing/silent_server.h"

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

// Sends everything to `healthy` until Freeze(), then to `hung`.
class FreezableClient final : public kube::Client {
 public:
  FreezableClient(kube::Client& healthy, kube::Client& hung) : healthy_(healthy), hung_(hung) {}
  void Freeze() { frozen_ = true; }

  absl::StatusOr<kube::json> Get(const Context& ctx, const kube::Resource& r,
                                 const std::string& ns, const std::string& name,
                                 const kube::DropKeys& drop) override {
    return Target().Get(ctx, r, ns, name, drop);
  }
  absl::StatusOr<kube::json> List(const Context& ctx, const kube::Resource& r,
                                  const std::string& ns, const kube::ListOptions& opts,
                                  const kube::DropKeys& drop) override {
    return Target().List(ctx, r, ns, opts, drop);
  }
  absl::StatusOr<kube::json> Create(const Context& ctx, const kube::Resource& r,
                                    const std::string& ns, const kube::json& object) override {
    return Target().Create(ctx, r, ns, object);
  }
  absl::StatusOr<kube::json> Update(const Context& ctx, const kube::Resource& r,
                                    const std::string& ns, const kube::json& object) override {
    return Target().Update(ctx, r, ns, object);
  }
  absl::StatusOr<kube::json> MergePatch(const Context& ctx, const kube::Resource& r,
                                        const std::string& ns, const std::string& name,
                                        const kube::json& patch,
                                        const std::string& subresource) override {
    return Target().MergePatch(ctx, r, ns, name, patch, subresource);
  }
  absl::Status Delete(const Context& ctx, const kube::Resource& r, const std::string& ns,
                      const std::string& name, const kube::DeleteOptions& opts) override {
    return Target().Delete(ctx, r, ns, name, opts);
  }
  absl::Status Watch(const Context& ctx, const kube::Resource& r, const std::string& ns,
                     const kube::WatchOptions& opts,
                     const std::function<bool(kube::WatchEvent&&)>& on_event,
                     const kube::DropKeys& drop) override {
    return Target().Watch(ctx, r, ns, opts, on_event, drop);
  }
  absl::StatusOr<std::string> PodLog(const Context& ctx, const std::string& ns,
                                     const std::string& pod, const std::string& container,
                                     long limit_bytes) override {
    return Target().PodLog(ctx, ns, pod, container, limit_bytes);
  }

 private:
  kube::Client& Target() { return frozen_ ? hung_ : healthy_; }
  kube::Client& healthy_;
  kube::Client& hung_;
  std::atomic<bool> frozen_{false};
};

// The leader's apiserver hangs (accepts connections, never answers). Its renewals must end
// at the renew deadline and on_lost must come before the lease can lapse, so that the
// workers stop before a standby may take over. Before attempts were bounded, the renew GET
// waited for the transport's 30 s receive timeout: on_lost came long after the 3 s lease had
// lapsed. Real time here (the hang is real I/O); the margins are seconds wide.
TEST(ElectorTest, LeaderWithAHungApiserverGivesUpBeforeItsLeaseLapses) {
  kube::testing::SilentServer apiserver;
  std::unique_ptr<kube::Client> hung = kube::testing::NewClientFor(apiserver);
  informer::FakeClient healthy;
  FreezableClient api(healthy, *hung);

  ElectorOptions o = Named("a");
  o.lease_duration = std::chrono::milliseconds(3000);
  o.renew_deadline = std::chrono::milliseconds(1500);
  o.retry_period = std::chrono::milliseconds(200);
  Elector a(api, o, RealClock());
  ASSERT_TRUE(a.Acquire(Context().WithTimeout(std::chrono::seconds(5))));
  std::promise<std::chrono::steady_clock::time_point> lost;
  a.KeepRenewing([&] { lost.set_value(std::chrono::steady_clock::now()); });
  std::this_thread::sleep_for(std::chrono::milliseconds(500));  // a few good renewals
  const std::string last_renewal =
      (*healthy.Get({}, kube::kLeases, "sys", "lock"))["spec"]["renewTime"];
  const auto frozen_at = std::chrono::steady_clock::now();
  api.Freeze();
  auto lost_at = lost.get_future();
  ASSERT_EQ(lost_at.wait_for(std::chrono::seconds(60)), std::future_status::ready);
  // The last renewal was at most one retry period before the freeze: the lease runs until
  // frozen_at + 3 s at the earliest. on_lost must come before that.
  EXPECT_LT(lost_at.get() - frozen_at, o.lease_duration - o.retry_period);
  EXPECT_FALSE(a.leading());
  EXPECT_GE(apiserver.accepted(), 1);
  EXPECT_EQ((*healthy.Get({}, kube::kLeases, "sys", "lock"))["spec"]["renewTime"], last_renewal);
}

// The renew loop through the clock seam: renewals every retry period; when they fail, on_lost
// exactly when renew_deadline has passed since the last good one (not before, not later).
TEST(ElectorTest, RenewLoopGivesUpAtTheRenewDeadlineOnTheClock) {
  informer::FakeClient healthy, broken;
  broken.FailAll(absl::UnavailableError("connection refused"));
  FreezableClient api(healthy, broken);
  FakeClock clock;
  std::atomic<int> sleeps{0};
  Elector::Sleeper advance = [&](const Context& ctx, std::chrono::nanoseconds d) {
    if (ctx.cancelled()) return false;
    ++sleeps;
    clock.Advance(d);
    return true;
  };
  ElectorOptions o = Named("a");
  o.lease_duration = std::chrono::seconds(15);
  o.renew_deadline = std::chrono::seconds(10);
  o.retry_period = std::chrono::seconds(2);
  Elector a(api, o, clock, advance);
  ASSERT_TRUE(a.Acquire(Context()));
  const SteadyTime acquired = clock.Now();
  api.Freeze();  // every renewal fails from now on
  std::promise<SteadyTime> lost;
  a.KeepRenewing([&] { lost.set_value(clock.Now()); });
  auto lost_at = lost.get_future();
  ASSERT_EQ(lost_at.wait_for(std::chrono::seconds(10)), std::future_status::ready);
  EXPECT_EQ(lost_at.get() - acquired, std::chrono::seconds(10));
  EXPECT_EQ(sleeps.load(), 5);  // 2, 4, 6, 8, 10 s: four failed renewals, then the deadline
  EXPECT_FALSE(a.leading());
}

TEST(ElectorTest, MalformedLeaseIsAnErrorValue) {
  informer::FakeClient api;
  FakeClock clock;
  ASSERT_TRUE(api.Create({}, kube::kLeases, "sys",
                         {{"metadata", {{"name", "lock"}}},
                          {"spec", {{"holderIdentity", 42}, {"renewTime", true}}}})
                  .ok());
  Elector a(api, Named("a"), clock);
  absl::StatusOr<bool> got = a.TryAcquireOrRenew({});
  EXPECT_EQ(got.status().code(), absl::StatusCode::kInvalidArgument) << got.status();
  EXPECT_FALSE(a.leading());
}

}  // namespace
}  // namespace coderun::leader
