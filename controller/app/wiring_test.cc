// The event rules, one by one (direct calls, the CodeRun indices kept by informer::Indices
// with the production index functions), then the whole wiring over real informers.
#include "app/wiring.h"

#include <deque>
#include <mutex>
#include <set>
#include <thread>
#include <utility>

#include "common/testing/eventually.h"
#include "common/testing/fake_clock.h"
#include "gmock/gmock.h"
#include "gtest/gtest.h"
#include "informer/indexer.h"
#include "kube/testing/fake_client.h"
#include "reconcile/network_policy.h"

namespace coderun::app {
namespace {

using coderun::testing::Eventually;

using reconcile::CodeRun;
using reconcile::NetworkPolicy;
using reconcile::Pod;
using ::testing::ElementsAre;
using ::testing::IsEmpty;
using ::testing::UnorderedElementsAre;

CodeRun MakeRun(const std::string& ns, const std::string& name, const std::string& reason = "") {
  CodeRun run;
  run.ns = ns;
  run.name = name;
  run.uid = "uid-" + name;
  run.phase = reason.empty() ? "" : "Pending";
  run.reason = reason;
  return run;
}

NetworkPolicy Policy(const std::string& ns, const std::string& name, bool intact_deny_all) {
  NetworkPolicy np;
  np.ns = ns;
  np.name = name;
  np.managed = intact_deny_all;
  np.deny_all_spec = intact_deny_all;
  return np;
}

Pod RunPod(const std::string& ns, const std::string& name, const std::string& owner_kind,
           const std::string& owner_name, const std::string& owner_uid,
           const std::string& uid_label) {
  Pod pod;
  pod.ns = ns;
  pod.name = name;
  pod.controller_kind = owner_kind;
  pod.controller_name = owner_name;
  pod.controller_uid = owner_uid;
  pod.run_uid_label = uid_label;
  return pod;
}

class EventRouterTest : public ::testing::Test {
 protected:
  EventRouterTest() {
    runs_index_.Add(kByNamespace, CodeRunNamespace);
    runs_index_.Add(kHeldForPolicy, HeldForPolicy);
  }
  void AddRun(const CodeRun& run) {
    runs_.push_back(run);
    runs_index_.Update(run.Key(), nullptr, &runs_.back());
  }
  EventRouter::Runs Runs() {
    return {[this](const std::string& ns) {
              const std::set<std::string>* keys = runs_index_.Keys(kByNamespace, ns);
              return keys ? keys->size() : 0;
            },
            [this](const std::string& ns) {
              const std::set<std::string>* keys = runs_index_.Keys(kHeldForPolicy, ns);
              return keys ? std::vector<std::string>(keys->begin(), keys->end())
                          : std::vector<std::string>{};
            }};
  }
  std::vector<std::string> TakeQueued() { return std::exchange(queued_, {}); }

  std::deque<CodeRun> runs_;  // stable addresses for the index
  informer::Indices<CodeRun> runs_index_;
  std::vector<std::string> queued_;
  reconcile::UidAllocator uids_{1000, 1001};
  EventRouter router_{[this](const std::string& key) { queued_.push_back(key); }, uids_, Runs()};
};

TEST_F(EventRouterTest, CodeRunEventEnqueuesItsOwnKey) {
  CodeRun run = MakeRun("a", "r1");
  router_.OnCodeRun("a/r1", nullptr, &run);
  router_.OnCodeRun("a/r1", &run, nullptr);
  EXPECT_THAT(TakeQueued(), ElementsAre("a/r1", "a/r1"));
}

TEST_F(EventRouterTest, PodEventEnqueuesItsOwnerCodeRun) {
  Pod pod = RunPod("a", "r1-0123456789", "CodeRun", "r1", "uid-r1", "uid-r1");
  router_.OnPod("a/r1-0123456789", nullptr, &pod);
  router_.OnPod("a/r1-0123456789", &pod, &pod);
  router_.OnPod("a/r1-0123456789", &pod, nullptr);
  EXPECT_THAT(TakeQueued(), ElementsAre("a/r1", "a/r1", "a/r1"));
}

TEST_F(EventRouterTest, PodOwnedByAnythingElseEnqueuesNothing) {
  Pod rs = RunPod("a", "web-1", "ReplicaSet", "web", "uid-rs", "uid-r1");
  Pod orphan = RunPod("a", "lone", "", "", "", "uid-r1");
  Pod nameless = RunPod("a", "odd", "CodeRun", "", "uid-r1", "uid-r1");
  router_.OnPod("a/web-1", nullptr, &rs);
  router_.OnPod("a/lone", nullptr, &orphan);
  router_.OnPod("a/odd", nullptr, &nameless);
  EXPECT_THAT(TakeQueued(), IsEmpty());
}

TEST_F(EventRouterTest, WorkloadEventEnqueuesItsOwnerCodeRunOnly) {
  reconcile::Workload w;
  w.ns = "a";
  w.name = "r1-0123456789";
  w.controller_kind = "CodeRun";
  w.controller_name = "r1";
  reconcile::Workload job = w;
  job.controller_kind = "Job";
  router_.OnWorkload("a/r1-0123456789", nullptr, &w);
  router_.OnWorkload("a/r1-0123456789", &w, nullptr);
  router_.OnWorkload("a/j", nullptr, &job);
  EXPECT_THAT(TakeQueued(), ElementsAre("a/r1", "a/r1"));
}

TEST(EventRouterKueueTest, RunsKueueAdmitsStayOutOfTheControllersQueue) {
  FakeClock clock;
  reconcile::Admission admission({1, 0, 0}, [](const std::string&) {}, clock);
  reconcile::UidAllocator uids{1000, 1001};
  auto router_for = [&](bool kueue) {
    return std::make_unique<EventRouter>([](const std::string&) {}, uids,
                                         EventRouter::Runs{[](const std::string&) { return 0; },
                                                           [](const std::string&) {
                                                             return std::vector<std::string>{};
                                                           }},
                                         &admission, kueue);
  };
  CodeRun plain = MakeRun("a", "plain");
  CodeRun labelled = MakeRun("a", "labelled");
  labelled.queue_name = "lq";
  auto with_kueue = router_for(true);
  with_kueue->OnCodeRun("a/plain", nullptr, &plain);
  with_kueue->OnCodeRun("a/labelled", nullptr, &labelled);
  EXPECT_EQ(admission.Counts().queued, 2 - 1);
  // The label taken off: the run joins the controller's queue; put back: it leaves it.
  CodeRun unlabelled = labelled;
  unlabelled.queue_name.clear();
  with_kueue->OnCodeRun("a/labelled", &labelled, &unlabelled);
  EXPECT_EQ(admission.Counts().queued, 2);
  with_kueue->OnCodeRun("a/labelled", &unlabelled, &labelled);
  EXPECT_EQ(admission.Counts().queued, 1);
  // Without --kueue the label means nothing.
  CodeRun other = labelled;
  other.name = "other";
  other.uid = "uid-other";
  router_for(false)->OnCodeRun("a/other", nullptr, &other);
  EXPECT_EQ(admission.Counts().queued, 2);
}

TEST_F(EventRouterTest, PodsFeedTheUidAllocatorUntilDeleted) {
  Pod pod = RunPod("a", "p", "CodeRun", "r1", "uid-r1", "uid-r1");
  pod.run_as_user = 1000;
  router_.OnPod("a/p", nullptr, &pod);
  EXPECT_EQ(uids_.InUse(), 1u);
  EXPECT_EQ(uids_.Allocate("a/other"), 1001) << "1000 is held by the Pod seen";
  uids_.Release("a/other");
  router_.OnPod("a/p", &pod, &pod);  // an update keeps the one hold
  EXPECT_EQ(uids_.InUse(), 1u);
  router_.OnPod("a/p", &pod, nullptr);
  EXPECT_EQ(uids_.InUse(), 0u);
  EXPECT_EQ(uids_.Allocate("a/other"), 1000);
}

TEST_F(EventRouterTest, PodWithoutRunAsUserHoldsNoUid) {
  Pod pod = RunPod("a", "p", "CodeRun", "r1", "uid-r1", "uid-r1");
  router_.OnPod("a/p", nullptr, &pod);
  EXPECT_EQ(uids_.InUse(), 0u);
}

TEST(StrangerIndexTest, ForeignOwnedLabelledPodIsFiledUnderTheRunAndLeavesOnDelete) {
  informer::Indices<Pod> pods;
  pods.Add(kStrangers, StrangerOf);
  Pod ours = RunPod("a", "r1-abc", "CodeRun", "r1", "uid-r1", "uid-r1");
  Pod foreign = RunPod("a", "fake", "ReplicaSet", "web", "uid-rs", "uid-r1");
  Pod unowned = RunPod("a", "bare", "", "", "", "uid-r1");
  Pod unlabelled = RunPod("a", "plain", "ReplicaSet", "web", "uid-rs", "");
  pods.Update("a/r1-abc", nullptr, &ours);
  pods.Update("a/fake", nullptr, &foreign);
  pods.Update("a/bare", nullptr, &unowned);
  pods.Update("a/plain", nullptr, &unlabelled);
  ASSERT_NE(pods.Keys(kStrangers, "uid-r1"), nullptr);
  EXPECT_THAT(*pods.Keys(kStrangers, "uid-r1"), ElementsAre("a/bare", "a/fake"));
  EXPECT_THAT(pods.Values(kStrangers), ElementsAre("uid-r1"));

  pods.Update("a/fake", &foreign, nullptr);
  EXPECT_THAT(*pods.Keys(kStrangers, "uid-r1"), ElementsAre("a/bare"));
  // Relabelled to another run: it moves with its label.
  Pod relabelled = unowned;
  relabelled.run_uid_label = "uid-r2";
  pods.Update("a/bare", &unowned, &relabelled);
  EXPECT_EQ(pods.Keys(kStrangers, "uid-r1"), nullptr);
  EXPECT_THAT(*pods.Keys(kStrangers, "uid-r2"), ElementsAre("a/bare"));
}

TEST_F(EventRouterTest, AlteredOrDeletedDenyAllEnqueuesThePolicyKeyWhereRunsExist) {
  AddRun(MakeRun("a", "r1"));
  NetworkPolicy intact = Policy("a", reconcile::kNetworkPolicyName, true);
  NetworkPolicy altered = Policy("a", reconcile::kNetworkPolicyName, false);
  router_.OnNetworkPolicy("a/coderun-deny-all", &intact, &altered);
  EXPECT_THAT(TakeQueued(), ElementsAre(reconcile::NetworkPolicyKey("a")));
  router_.OnNetworkPolicy("a/coderun-deny-all", &intact, nullptr);
  EXPECT_THAT(TakeQueued(), ElementsAre(reconcile::NetworkPolicyKey("a")));
  router_.OnNetworkPolicy("a/coderun-deny-all", &altered, &intact);  // restored: nothing to do
  router_.OnNetworkPolicy("a/coderun-deny-all", nullptr, &intact);
  EXPECT_THAT(TakeQueued(), IsEmpty());
}

TEST_F(EventRouterTest, DenyAllInANamespaceWithoutRunsIsLeftAlone) {
  AddRun(MakeRun("a", "r1"));
  NetworkPolicy intact = Policy("b", reconcile::kNetworkPolicyName, true);
  NetworkPolicy altered = Policy("b", reconcile::kNetworkPolicyName, false);
  router_.OnNetworkPolicy("b/coderun-deny-all", &intact, &altered);
  router_.OnNetworkPolicy("b/coderun-deny-all", &altered, nullptr);
  EXPECT_THAT(TakeQueued(), IsEmpty());
}

TEST_F(EventRouterTest, OtherPoliciesNeverEnqueueThePolicyKey) {
  AddRun(MakeRun("a", "r1"));
  NetworkPolicy other = Policy("a", "allow-web", false);
  router_.OnNetworkPolicy("a/allow-web", nullptr, &other);
  router_.OnNetworkPolicy("a/allow-web", &other, nullptr);
  EXPECT_THAT(TakeQueued(), IsEmpty());
}

TEST_F(EventRouterTest, AnyPolicyChangeEnqueuesThatNamespacesRunsHeldForAConflict) {
  AddRun(MakeRun("a", "held1", "NetworkPolicyConflict"));
  AddRun(MakeRun("a", "held2", "NetworkPolicyConflict"));
  AddRun(MakeRun("a", "pending", "PodPending"));
  AddRun(MakeRun("a", "new"));
  AddRun(MakeRun("b", "held-elsewhere", "NetworkPolicyConflict"));
  NetworkPolicy open = Policy("a", "allow-all", false);
  router_.OnNetworkPolicy("a/allow-all", nullptr, &open);
  EXPECT_THAT(TakeQueued(), ElementsAre("a/held1", "a/held2"));
  router_.OnNetworkPolicy("a/allow-all", &open, nullptr);
  EXPECT_THAT(TakeQueued(), ElementsAre("a/held1", "a/held2"));
  // Our own policy's change releases them too, then asks for the policy to be restored.
  NetworkPolicy ours = Policy("a", reconcile::kNetworkPolicyName, true);
  router_.OnNetworkPolicy("a/coderun-deny-all", &ours, nullptr);
  EXPECT_THAT(TakeQueued(),
              ElementsAre("a/held1", "a/held2", reconcile::NetworkPolicyKey("a")));
}

TEST(CodeRunIndexTest, HeldRunsMoveOutOfTheIndexWhenTheirReasonChanges) {
  informer::Indices<CodeRun> runs;
  runs.Add(kHeldForPolicy, HeldForPolicy);
  CodeRun held = MakeRun("a", "r", "NetworkPolicyConflict");
  CodeRun started = MakeRun("a", "r", "PodPending");
  runs.Update("a/r", nullptr, &held);
  EXPECT_THAT(runs.Values(kHeldForPolicy), ElementsAre("a"));
  runs.Update("a/r", &held, &started);
  EXPECT_THAT(runs.Values(kHeldForPolicy), IsEmpty());
}

// ---- the whole wiring over informers ------------------------------------------------------

kube::json CodeRunJson(const std::string& ns, const std::string& name, const std::string& reason) {
  kube::json j = {{"metadata", {{"namespace", ns}, {"name", name}, {"uid", "uid-" + name}}}};
  if (!reason.empty()) j["status"] = {{"phase", "Pending"}, {"reason", reason}};
  return j;
}

kube::json PodJson(const std::string& ns, const std::string& name, const std::string& owner_kind,
                   const std::string& owner_uid, const std::string& run_uid) {
  return {{"metadata",
           {{"namespace", ns},
            {"name", name},
            {"labels", {{reconcile::kUidLabel, run_uid}}},
            {"ownerReferences",
             {{{"kind", owner_kind}, {"name", "owner"}, {"uid", owner_uid},
               {"controller", true}}}}}}};
}

kube::json OpenPolicyJson(const std::string& ns, const std::string& name) {
  return {{"metadata", {{"namespace", ns}, {"name", name}}},
          {"spec", {{"podSelector", kube::json::object()}, {"ingress", {kube::json::object()}}}}};
}

class WiredInformersTest : public ::testing::Test {
 protected:
  informer::InformerOptions Options(const kube::Resource& r) {
    informer::InformerOptions o;
    o.resource = r;
    o.backoff_initial = std::chrono::milliseconds(5);
    return o;
  }
  void Start() {
    Wire(router_, coderuns_, pods_, policies_);
    coderuns_.Start();
    pods_.Start();
    policies_.Start();
    ASSERT_TRUE(Eventually([&] {
      return coderuns_.HasSynced() && pods_.HasSynced() && policies_.HasSynced();
    }));
  }
  std::vector<std::string> Queued() {
    std::lock_guard lock(mu_);
    return queued_;
  }
  void ClearQueued() {
    std::lock_guard lock(mu_);
    queued_.clear();
  }
  bool WasQueued(const std::string& key) {
    for (const std::string& k : Queued()) {
      if (k == key) return true;
    }
    return false;
  }

  informer::FakeClient api_;
  std::mutex mu_;
  std::vector<std::string> queued_;  // guarded by mu_
  reconcile::UidAllocator uids_{1000, 1999};
  // Declared before the informers, so that it outlives their threads (which call it).
  EventRouter router_{[this](const std::string& key) {
                        std::lock_guard lock(mu_);
                        queued_.push_back(key);
                      },
                      uids_, RunsOf(coderuns_)};
  informer::Informer<CodeRun> coderuns_{api_, Options(kube::kCodeRuns), reconcile::DecodeCodeRun,
                                        RealClock()};
  informer::Informer<Pod> pods_{api_, Options(kube::kPods), reconcile::DecodePod, RealClock()};
  informer::Informer<NetworkPolicy> policies_{api_, Options(kube::kNetworkPolicies),
                                              reconcile::DecodeNetworkPolicy, RealClock()};
};

TEST_F(WiredInformersTest, CachesReadPoliciesAndStrangersFromTheIndices) {
  api_.Put(kube::kNetworkPolicies, reconcile::BuildDenyAllPolicy("a"));
  api_.Put(kube::kNetworkPolicies, OpenPolicyJson("a", "allow-all"));
  api_.Put(kube::kNetworkPolicies, reconcile::BuildDenyAllPolicy("b"));
  api_.Put(kube::kPods, PodJson("a", "look-alike", "ReplicaSet", "uid-rs", "uid-r1"));
  api_.Put(kube::kPods, PodJson("a", "r1-pod", "CodeRun", "uid-r1", "uid-r1"));
  Start();
  reconcile::Caches caches = CachesOf(coderuns_, pods_, policies_);
  std::vector<std::string> names;
  for (const auto& p : caches.policies("a")) names.push_back(p->ns + "/" + p->name);
  EXPECT_THAT(names, ElementsAre("a/allow-all", "a/coderun-deny-all"));
  EXPECT_THAT(caches.strangers("uid-r1"), ElementsAre("look-alike"));
  api_.Erase(kube::kPods, "a", "look-alike");
  ASSERT_TRUE(Eventually([&] { return caches.strangers("uid-r1").empty(); }));
}

TEST_F(WiredInformersTest, PolicyEventsEnqueueHeldRunsAndRestoreOnlyWhereRunsExist) {
  api_.Put(kube::kCodeRuns, CodeRunJson("a", "held", "NetworkPolicyConflict"));
  api_.Put(kube::kCodeRuns, CodeRunJson("a", "fine", "PodPending"));
  api_.Put(kube::kNetworkPolicies, reconcile::BuildDenyAllPolicy("a"));
  api_.Put(kube::kNetworkPolicies, reconcile::BuildDenyAllPolicy("b"));
  Start();
  ASSERT_TRUE(Eventually([&] { return WasQueued("a/held") && WasQueued("a/fine"); }));
  ClearQueued();

  api_.Put(kube::kNetworkPolicies, OpenPolicyJson("a", "allow-all"));
  ASSERT_TRUE(Eventually([&] { return WasQueued("a/held"); }));
  EXPECT_THAT(Queued(), ElementsAre("a/held"));
  ClearQueued();

  api_.Erase(kube::kNetworkPolicies, "b", reconcile::kNetworkPolicyName);  // no runs in b
  api_.Erase(kube::kNetworkPolicies, "a", reconcile::kNetworkPolicyName);
  ASSERT_TRUE(Eventually([&] { return WasQueued(reconcile::NetworkPolicyKey("a")); }));
  EXPECT_THAT(Queued(), UnorderedElementsAre("a/held", reconcile::NetworkPolicyKey("a")));
}

TEST_F(WiredInformersTest, PodEventsEnqueueTheOwnerAndHoldTheirUid) {
  Start();
  kube::json pod = PodJson("a", "r1-pod", "CodeRun", "uid-r1", "uid-r1");
  pod["metadata"]["ownerReferences"][0]["name"] = "r1";
  pod["spec"] = {{"securityContext", {{"runAsUser", 1500}}}};
  api_.Put(kube::kPods, pod);
  ASSERT_TRUE(Eventually([&] { return WasQueued("a/r1"); }));
  EXPECT_EQ(uids_.InUse(), 1u);
  api_.Erase(kube::kPods, "a", "r1-pod");
  ASSERT_TRUE(Eventually([&] { return uids_.InUse() == 0; }));
}

}  // namespace
}  // namespace coderun::app
