#include "reconcile/pool.h"

#include <gtest/gtest.h>

#include "reconcile/status.h"

namespace coderun::reconcile {
namespace {

using kube::json;

constexpr std::int64_t kNow = 1800000000;

Pool MakePool(std::int64_t size, std::vector<PoolPod> ledger = {}) {
  Pool p;
  p.ns = "ns";
  p.name = "warm";
  p.uid = "pool-uid";
  p.resource_version = "7";
  p.size = size;
  p.language = "python";
  p.limits = DecodeLimits(json::object());
  p.pods = std::move(ledger);
  return p;
}

Pod MakePod(const std::string& name, const std::string& uid, bool running) {
  Pod pod;
  pod.ns = "ns";
  pod.name = name;
  pod.uid = uid;
  pod.controller_kind = "CodeRunPool";
  pod.controller_uid = "pool-uid";
  pod.creation_timestamp = FormatTime(kNow - 100);
  pod.phase = running ? "Running" : "Pending";
  pod.running = running;
  return pod;
}

PoolPod Entry(const std::string& name, const std::string& uid, const std::string& run = "") {
  return {name, uid, run, run.empty() ? "" : run + "-uid", kNow - 60};
}

TEST(PlanPoolTest, AnEmptyPoolIsFilledToItsSize) {
  PoolPlan plan = PlanPool(MakePool(3), {}, kNow, 30);
  EXPECT_EQ(plan.create, 3);
  EXPECT_TRUE(plan.ledger.empty());
}

TEST(PlanPoolTest, ReadyStartingAndClaimedPodsAreCountedApart) {
  Pod a = MakePod("warm-a", "a", true), b = MakePod("warm-b", "b", false),
      c = MakePod("warm-c", "c", true);
  Pool pool = MakePool(3, {Entry("warm-a", "a"), Entry("warm-b", "b"), Entry("warm-c", "c", "run")});
  PoolPlan plan = PlanPool(pool, {&a, &b, &c}, kNow, 30);
  EXPECT_EQ(plan.ready, 1);
  EXPECT_EQ(plan.starting, 1);
  EXPECT_EQ(plan.create, 1);  // the claimed Pod no longer counts
  EXPECT_EQ(plan.ledger.size(), 3u);
  EXPECT_TRUE(plan.delete_pods.empty());
}

// A Pod that carries the pool's ownerReference is the pool's only if the ledger lists it:
// an `edit` user can copy every label and the ownerReference, not the ledger.
TEST(PlanPoolTest, ALookAlikeIsNeverCountedAndGoesOnceItIsOlderThanTheGrace) {
  Pod real = MakePod("warm-a", "a", true);
  Pod fake = MakePod("warm-x", "x", true);
  PoolPlan plan = PlanPool(MakePool(1, {Entry("warm-a", "a")}), {&real, &fake}, kNow, 30);
  EXPECT_EQ(plan.ready, 1);
  EXPECT_EQ(plan.create, 0);
  EXPECT_EQ(plan.strangers, std::vector<std::string>{"warm-x"});
  EXPECT_FALSE(plan.young_strangers);
  fake.creation_timestamp = FormatTime(kNow - 5);  // maybe ours, its ledger write in flight
  plan = PlanPool(MakePool(1, {Entry("warm-a", "a")}), {&real, &fake}, kNow, 30);
  EXPECT_TRUE(plan.strangers.empty());
  EXPECT_TRUE(plan.young_strangers);  // looked at again once the grace has passed
  EXPECT_EQ(plan.ready, 1);
}

TEST(PlanPoolTest, EntriesWhosePodIsGoneAreDroppedAfterTheGrace) {
  PoolPod fresh = Entry("warm-a", "a");
  fresh.created = kNow - 5;
  PoolPod claimed = Entry("warm-b", "b", "run");
  claimed.created = kNow - 5;  // a claimed Pod was seen: not cached means gone
  PoolPod stale = Entry("warm-c", "c");
  PoolPlan plan = PlanPool(MakePool(2, {fresh, claimed, stale}), {}, kNow, 30);
  EXPECT_EQ(plan.ledger, std::vector<PoolPod>{fresh});
  EXPECT_EQ(plan.starting, 1);
  EXPECT_EQ(plan.create, 1);
}

TEST(PlanPoolTest, AnIdlePodWhoseRunnerEndedGoesAndIsReplaced) {
  Pod ended = MakePod("warm-a", "a", false);
  ended.terminated = ContainerTerminated{2, 0, "Error", "", "", ""};
  ended.phase = "Failed";
  PoolPlan plan = PlanPool(MakePool(1, {Entry("warm-a", "a")}), {&ended}, kNow, 30);
  ASSERT_EQ(plan.delete_pods.size(), 1u);
  EXPECT_EQ(plan.delete_pods[0].uid, "a");
  EXPECT_EQ(plan.create, 1);
}

TEST(PlanPoolTest, ShrinkingDeletesStartingPodsFirstAndNeverAClaimedOne) {
  Pod a = MakePod("warm-a", "a", true), b = MakePod("warm-b", "b", false),
      c = MakePod("warm-c", "c", true);
  Pool pool = MakePool(1, {Entry("warm-a", "a"), Entry("warm-b", "b"), Entry("warm-c", "c", "run")});
  PoolPlan plan = PlanPool(pool, {&a, &b, &c}, kNow, 30);
  ASSERT_EQ(plan.delete_pods.size(), 1u);
  EXPECT_EQ(plan.delete_pods[0].uid, "b");
  EXPECT_EQ(plan.ready, 1);
  EXPECT_EQ(plan.starting, 0);
  pool.size = 0;
  plan = PlanPool(pool, {&a, &b, &c}, kNow, 30);
  EXPECT_EQ(plan.delete_pods.size(), 2u);
  for (const PoolPod& d : plan.delete_pods) EXPECT_NE(d.uid, "c");
}

TEST(PoolServesTest, OnlyPlainRunsOfTheSameLanguageAndLimits) {
  Settings settings;
  Pool pool = MakePool(1);
  auto pool_limits = std::get<ValidLimits>(ValidatePool(pool, settings));
  CodeRun run;
  run.ns = "ns";
  run.name = "r";
  run.language = "python";
  run.limits = DecodeLimits(json::object());
  auto limits = std::get<ValidLimits>(Validate(run, settings));
  EXPECT_TRUE(PoolServes(pool, pool_limits, run, limits, settings));
  CodeRun other = run;
  other.limits.memory = "512Mi";
  EXPECT_FALSE(PoolServes(pool, pool_limits, other, std::get<ValidLimits>(Validate(other, settings)),
                          settings));
  other = run;
  other.limits.cpu = "1000m";  // the same quantity written otherwise
  EXPECT_TRUE(PoolServes(pool, pool_limits, other, std::get<ValidLimits>(Validate(other, settings)),
                         settings));
  other = run;
  other.judge.cases = 2;
  EXPECT_FALSE(PoolServes(pool, pool_limits, other, limits, settings));
  pool.deleting = true;
  EXPECT_FALSE(PoolServes(pool, pool_limits, run, limits, settings));
}

TEST(BuildWarmPodTest, TheColdRunsHardenedPodWaitingOnItsStdin) {
  Settings settings;
  Pool pool = MakePool(1);
  auto limits = std::get<ValidLimits>(ValidatePool(pool, settings));
  json pod = BuildWarmPod(pool, limits, settings, "warm-0123abcd", 300001);
  EXPECT_EQ(pod["metadata"]["name"], "warm-0123abcd");
  EXPECT_EQ(pod["metadata"]["labels"][kPoolLabel], "warm");
  EXPECT_EQ(pod["metadata"]["ownerReferences"][0]["kind"], "CodeRunPool");
  EXPECT_EQ(pod["metadata"]["ownerReferences"][0]["uid"], "pool-uid");
  const json& spec = pod["spec"];
  EXPECT_FALSE(spec.contains("activeDeadlineSeconds"));
  EXPECT_EQ(spec["automountServiceAccountToken"], false);
  EXPECT_EQ(spec["securityContext"]["runAsUser"], 300001);
  const json& c = spec["containers"][0];
  EXPECT_EQ(c["stdin"], true);
  EXPECT_EQ(c["stdinOnce"], true);
  EXPECT_EQ(c["args"][0], "--await-request");
  EXPECT_EQ(c["securityContext"]["readOnlyRootFilesystem"], true);
  for (const json& v : spec["volumes"]) EXPECT_FALSE(v.contains("secret")) << v;
}

TEST(PoolStatusPatchTest, TheLedgerReadsBackAsWritten) {
  Pool pool = MakePool(2, {});
  std::vector<PoolPod> ledger = {Entry("warm-a", "a"), Entry("warm-b", "b", "run")};
  json patch = PoolStatusPatch(pool, ledger, 1, 0, FormatTime(kNow));
  EXPECT_EQ(patch["metadata"]["resourceVersion"], "7");
  EXPECT_EQ(patch["status"]["selector"], "coderun.dev/pool=warm");
  json object = {{"metadata", {{"name", "warm"}, {"namespace", "ns"}, {"uid", "pool-uid"}}},
                 {"spec", {{"size", 2}}},
                 {"status", patch["status"]}};
  auto back = DecodePool(object);
  ASSERT_TRUE(back.ok()) << back.status();
  EXPECT_EQ(back->pods, ledger);
  EXPECT_EQ(back->ready, 1);
  EXPECT_EQ(back->ready_condition_status, "False");
}

}  // namespace
}  // namespace coderun::reconcile
