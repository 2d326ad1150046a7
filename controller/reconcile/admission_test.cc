// The admission queue fed by hand-made informer events (as app/wiring feeds it).
#include "reconcile/admission.h"

#include <gmock/gmock.h>
#include <gtest/gtest.h>

#include <algorithm>
#include <map>

#include "common/testing/fake_clock.h"
#include "reconcile/pod.h"

namespace coderun::reconcile {
namespace {

using ::testing::ElementsAre;
using ::testing::IsEmpty;

class AdmissionTest : public ::testing::Test {
 protected:
  std::unique_ptr<Admission> Make(AdmissionLimits limits) {
    return std::make_unique<Admission>(
        limits, [this](const std::string& key) { woken_.push_back(key); }, clock_);
  }

  // A new CodeRun created `created` seconds after the epoch of the test.
  CodeRun& AddRun(Admission& a, const std::string& ns, const std::string& name,
                  std::int64_t created) {
    CodeRun run;
    run.ns = ns;
    run.name = name;
    run.uid = "uid-" + ns + "-" + name;
    run.creation_time = 1000 + created;
    CodeRun& stored = runs_[run.Key()] = run;
    a.OnRun(nullptr, &stored);
    return stored;
  }
  // The reconciler's step for an admitted run: Pod created, status records it.
  void CreatePod(Admission& a, const std::string& key) {
    CodeRun& run = runs_.at(key);
    Pod& pod = pods_[key];
    pod.ns = run.ns;
    pod.name = PodName(run.name, run.uid);
    pod.controller_kind = "CodeRun";
    pod.controller_name = run.name;
    pod.controller_uid = run.uid;
    pod.phase = "Pending";
    a.OnPod(nullptr, &pod);
    CodeRun old = run;
    run.pod_name = pod.name;
    run.phase = "Pending";
    a.OnRun(&old, &run);
  }
  void PodRunning(Admission& a, const std::string& key) {
    Pod old = pods_.at(key);
    pods_[key].running = true;
    pods_[key].phase = "Running";
    a.OnPod(&old, &pods_[key]);
  }
  // The run ended: terminal status, then its Pod deleted.
  void Finish(Admission& a, const std::string& key) {
    CodeRun old = runs_.at(key);
    runs_[key].phase = "Succeeded";
    a.OnRun(&old, &runs_[key]);
    if (pods_.count(key)) {
      a.OnPod(&pods_[key], nullptr);
      pods_.erase(key);
    }
  }
  // With one start slot: starts each admitted run's Pod in turn until `count` runs were
  // admitted; returns their keys in the order of admission.
  std::vector<std::string> AdmitInTurn(Admission& a, std::size_t count) {
    std::vector<std::string> order = TakeWoken();
    while (!order.empty() && order.size() < count) {
      CreatePod(a, order.back());
      PodRunning(a, order.back());
      std::vector<std::string> next = TakeWoken();
      if (next.empty()) break;
      order.insert(order.end(), next.begin(), next.end());
    }
    return order;
  }
  std::vector<std::string> TakeWoken() {
    std::vector<std::string> out;
    out.swap(woken_);
    return out;
  }

  FakeClock clock_;
  std::vector<std::string> woken_;
  std::map<std::string, CodeRun> runs_;
  std::map<std::string, Pod> pods_;
};

TEST_F(AdmissionTest, NothingIsAdmittedBeforeTheCachesSynced) {
  auto a = Make({2, 0, 0});
  AddRun(*a, "a", "r1", 1);
  EXPECT_FALSE(a->Admit(runs_.at("a/r1")).admitted);
  EXPECT_THAT(TakeWoken(), IsEmpty());
  a->Open();
  EXPECT_THAT(TakeWoken(), ElementsAre("a/r1"));
  EXPECT_TRUE(a->Admit(runs_.at("a/r1")).admitted);
}

TEST_F(AdmissionTest, CountsNameTheOldestQueuedRunWhateverItsPriority) {
  auto a = Make({1, 0, 0});
  EXPECT_EQ(a->OldestQueuedCreated(), 0);
  AddRun(*a, "a", "r1", 1);
  AddRun(*a, "a", "old", 2);
  AddRun(*a, "b", "new", 9);
  a->Open();
  EXPECT_THAT(TakeWoken(), ElementsAre("a/r1"));
  runs_.at("a/old").priority = -5;  // last in its queue, still the oldest waiting
  a->OnRun(nullptr, &runs_.at("a/old"));
  EXPECT_EQ(a->OldestQueuedCreated(), 1002);
  CreatePod(*a, "a/r1");
  PodRunning(*a, "a/r1");
  Finish(*a, "a/r1");
  EXPECT_THAT(TakeWoken(), ElementsAre("b/new"));  // round-robin: b's turn
  EXPECT_EQ(a->OldestQueuedCreated(), 1002);
  CreatePod(*a, "b/new");
  PodRunning(*a, "b/new");
  Finish(*a, "b/new");
  EXPECT_THAT(TakeWoken(), ElementsAre("a/old"));
  EXPECT_EQ(a->Counts().queued, 0);
  EXPECT_EQ(a->OldestQueuedCreated(), 0);
}

TEST_F(AdmissionTest, StartingRunsAreBoundedAndAStartedPodFreesItsSlot) {
  auto a = Make({2, 0, 0});
  for (int i = 1; i <= 5; ++i) AddRun(*a, "a", "r" + std::to_string(i), i);
  a->Open();
  EXPECT_THAT(TakeWoken(), ElementsAre("a/r1", "a/r2"));
  EXPECT_FALSE(a->Admit(runs_.at("a/r3")).admitted);
  EXPECT_EQ(a->Counts().queued, 3);
  EXPECT_EQ(a->Counts().starting, 2);

  CreatePod(*a, "a/r1");  // created but not started: still holds its slot
  EXPECT_THAT(TakeWoken(), IsEmpty());
  PodRunning(*a, "a/r1");
  EXPECT_THAT(TakeWoken(), ElementsAre("a/r3"));
  EXPECT_EQ(a->Counts().running, 1);

  // A grant whose run ends before its Pod exists (InvalidSpec) frees its slot too.
  Finish(*a, "a/r2");
  EXPECT_THAT(TakeWoken(), ElementsAre("a/r4"));
  EXPECT_EQ(a->Counts().queued, 1);
}

TEST_F(AdmissionTest, PlantedPodsTakeNoSlot) {
  // An `edit` user labels Pods as the controller's and keeps them Pending: owned to a
  // made-up CodeRun, to a live run under another name, or to a finished run under that
  // run's own Pod name. None takes a slot.
  auto a = Make({2, 0, 0});
  CodeRun& victim = AddRun(*a, "a", "r0", 0);
  AddRun(*a, "b", "r0", 1);
  CodeRun& done = AddRun(*a, "a", "done", 2);
  Finish(*a, "a/done");
  std::vector<Pod> planted(3);
  for (int i = 0; i < 3; ++i) {
    Pod& p = planted[i];
    p.ns = "a";
    p.name = i == 2 ? PodName(done.name, done.uid) : "planted-" + std::to_string(i);
    p.controller_kind = "CodeRun";
    p.controller_name = i == 0 ? "r0" : i == 1 ? "ghost" : "done";
    p.controller_uid = i == 0 ? victim.uid : i == 1 ? "made-up-uid" : done.uid;
    p.phase = "Pending";
    a->OnPod(nullptr, &p);
  }
  a->Open();
  EXPECT_THAT(TakeWoken(), ElementsAre("a/r0", "b/r0"));
  EXPECT_EQ(a->Counts().starting, 2);
}

TEST_F(AdmissionTest, APodSeenBeforeItsRunCountsOnceTheRunIsKnown) {
  auto a = Make({1, 0, 0});
  CodeRun early;
  early.ns = "a";
  early.name = "r0";
  early.uid = "uid-a-r0";
  early.pod_name = PodName("r0", "uid-a-r0");
  Pod pod;
  pod.ns = "a";
  pod.name = early.pod_name;
  pod.controller_kind = "CodeRun";
  pod.controller_name = "r0";
  pod.controller_uid = early.uid;
  pod.phase = "Pending";
  a->OnPod(nullptr, &pod);  // the Pod informer's list came first
  a->OnRun(nullptr, &early);
  AddRun(*a, "a", "r1", 1);
  a->Open();
  EXPECT_THAT(TakeWoken(), IsEmpty());  // r0's Pod holds the one slot
  EXPECT_EQ(a->Counts().starting, 1);
}

TEST_F(AdmissionTest, FifoByCreationTimeWithinANamespace) {
  auto a = Make({1, 0, 0});
  AddRun(*a, "a", "late", 30);
  AddRun(*a, "a", "early", 10);
  AddRun(*a, "a", "middle", 20);
  a->Open();
  EXPECT_THAT(AdmitInTurn(*a, 3), ElementsAre("a/early", "a/middle", "a/late"));
}

TEST_F(AdmissionTest, PriorityOrdersWithinANamespaceButNeverAcrossNamespaces) {
  auto a = Make({1, 0, 0});
  AddRun(*a, "a", "old-low", 10);
  AddRun(*a, "a", "new-high", 30).priority = 5;
  a->OnRun(nullptr, &runs_.at("a/new-high"));  // the event carries the priority
  AddRun(*a, "a", "mid-high", 20).priority = 5;
  a->OnRun(nullptr, &runs_.at("a/mid-high"));
  for (int i = 0; i < 3; ++i) AddRun(*a, "b", "r" + std::to_string(i), i);
  EXPECT_EQ(a->Admit(runs_.at("a/mid-high")).place.in_namespace, 0);
  EXPECT_EQ(a->Admit(runs_.at("a/old-low")).place.in_namespace, 2);
  a->Open();
  // Namespace a: higher priority first, then oldest; b still gets every other turn.
  EXPECT_THAT(AdmitInTurn(*a, 6),
              ElementsAre("a/mid-high", "b/r0", "a/new-high", "b/r1", "a/old-low", "b/r2"));
}

TEST_F(AdmissionTest, AChangedPriorityMovesAQueuedRun) {
  auto a = Make({1, 0, 0});
  AddRun(*a, "a", "first", 10);
  AddRun(*a, "a", "second", 20);
  AddRun(*a, "a", "third", 30);
  CodeRun old = runs_.at("a/third");
  runs_.at("a/third").priority = 1;
  a->OnRun(&old, &runs_.at("a/third"));
  EXPECT_EQ(a->Counts().queued, 3);  // moved, not duplicated
  a->Open();
  EXPECT_THAT(AdmitInTurn(*a, 3), ElementsAre("a/third", "a/first", "a/second"));
}

TEST_F(AdmissionTest, RoundRobinAcrossNamespacesLetsTheSmallOneThrough) {
  auto a = Make({1, 0, 0});
  for (int i = 0; i < 200; ++i) AddRun(*a, "big", "r" + std::to_string(i), i);
  for (int i = 0; i < 20; ++i) AddRun(*a, "small", "r" + std::to_string(i), 500 + i);
  EXPECT_EQ(a->Admit(runs_.at("small/r0")).place.in_namespace, 0);
  EXPECT_EQ(a->Admit(runs_.at("small/r0")).place.position, 2);  // one of big's turn before it
  EXPECT_EQ(a->Admit(runs_.at("small/r3")).place.position, 8);
  a->Open();
  std::vector<std::string> order = AdmitInTurn(*a, 40);
  ASSERT_EQ(order.size(), 40u);
  // Alternating turns: all 20 small runs are among the first 40 admitted.
  EXPECT_EQ(std::count_if(order.begin(), order.end(),
                          [](const std::string& k) { return k.rfind("small/", 0) == 0; }),
            20);
  EXPECT_EQ(order[0].substr(0, 4), "big/");
  EXPECT_EQ(order[1], "small/r0");
}

TEST_F(AdmissionTest, RunningBoundsClusterWideAndPerNamespace) {
  auto a = Make({10, 3, 1});
  for (int i = 0; i < 3; ++i) AddRun(*a, "a", "r" + std::to_string(i), i);
  for (int i = 0; i < 3; ++i) AddRun(*a, "b", "r" + std::to_string(i), i);
  AddRun(*a, "c", "r0", 0);
  AddRun(*a, "d", "r0", 0);
  a->Open();
  // One per namespace, three in all, though ten could be starting.
  EXPECT_THAT(TakeWoken(), ElementsAre("a/r0", "b/r0", "c/r0"));
  CreatePod(*a, "a/r0");
  PodRunning(*a, "a/r0");  // still live: no new slot
  EXPECT_THAT(TakeWoken(), IsEmpty());
  Finish(*a, "a/r0");
  // d's turn comes before a's second run.
  EXPECT_THAT(TakeWoken(), ElementsAre("d/r0"));
}

TEST_F(AdmissionTest, ARebuiltQueueGivesTheSameOrderWithoutDuplicates) {
  // The first controller admitted two runs and created one Pod, then restarted.
  auto first = Make({2, 0, 0});
  for (int i = 0; i < 6; ++i) AddRun(*first, i % 2 ? "a" : "b", "r" + std::to_string(i), i);
  first->Open();
  EXPECT_THAT(TakeWoken(), ElementsAre("a/r1", "b/r0"));
  CreatePod(*first, "a/r1");

  // The second one sees the caches' objects, in whatever order the lists give them.
  auto second = Make({2, 0, 0});
  std::vector<std::string> keys;
  for (const auto& [key, run] : runs_) keys.push_back(key);
  std::reverse(keys.begin(), keys.end());
  for (const std::string& key : keys) second->OnRun(nullptr, &runs_.at(key));
  for (auto& [key, pod] : pods_) second->OnPod(nullptr, &pod);
  second->Open();
  // a/r1 has its Pod (starting): not admitted again. The one free slot goes to the head of
  // the first namespace: each namespace's order is the cache's, only the round-robin turn
  // starts over.
  EXPECT_THAT(TakeWoken(), ElementsAre("a/r3"));
  EXPECT_EQ(second->Counts().starting, 2);
  EXPECT_EQ(second->Counts().queued, 4);
}

TEST_F(AdmissionTest, ADeferredNamespaceYieldsItsSlotForAWhile) {
  auto a = Make({1, 0, 0});
  AddRun(*a, "quota", "r0", 0);
  AddRun(*a, "quota", "r1", 1);
  AddRun(*a, "other", "r0", 5);
  a->Open();
  EXPECT_THAT(TakeWoken(), ElementsAre("other/r0"));
  Finish(*a, "other/r0");
  EXPECT_THAT(TakeWoken(), ElementsAre("quota/r0"));
  AddRun(*a, "other", "r1", 6);
  a->Defer(runs_.at("quota/r0"), std::chrono::seconds(5));  // its quota is full
  EXPECT_THAT(TakeWoken(), ElementsAre("other/r1"));
  Finish(*a, "other/r1");
  EXPECT_THAT(TakeWoken(), IsEmpty());  // quota still paused
  EXPECT_FALSE(a->Admit(runs_.at("quota/r0")).admitted);
  clock_.Advance(std::chrono::seconds(6));
  Admission::Decision d = a->Admit(runs_.at("quota/r0"));
  EXPECT_TRUE(d.admitted);  // first in its namespace again
  EXPECT_EQ(d.admitted_at, 1'700'000'000);  // the first admission's time is kept
  EXPECT_THAT(TakeWoken(), ElementsAre("quota/r0"));
}

TEST_F(AdmissionTest, DeletedOrTerminalRunsLeaveTheQueue) {
  auto a = Make({1, 0, 0});
  AddRun(*a, "a", "r0", 0);
  CodeRun& gone = AddRun(*a, "a", "r1", 1);
  CodeRun& deleting = AddRun(*a, "a", "r2", 2);
  AddRun(*a, "a", "r3", 3);
  a->OnRun(&gone, nullptr);
  CodeRun marked = deleting;
  marked.deleting = true;
  a->OnRun(&deleting, &marked);
  EXPECT_EQ(a->Counts().queued, 2);
  EXPECT_EQ(a->Admit(runs_.at("a/r3")).place.in_namespace, 1);
}

TEST_F(AdmissionTest, ARunWhosePodIsStillGoingWaitsForItBeforeItsTurn) {
  // After a restart: the run's earlier Pod (unrecorded, so deleted unread) is on its way out.
  auto a = Make({5, 0, 0});
  CodeRun& run = AddRun(*a, "a", "r0", 0);
  Pod old;
  old.ns = "a";
  old.name = PodName(run.name, run.uid);
  old.controller_kind = "CodeRun";
  old.controller_name = "r0";
  old.controller_uid = run.uid;
  old.deleting = true;
  a->OnPod(nullptr, &old);
  a->Open();
  EXPECT_THAT(TakeWoken(), IsEmpty());
  Admission::Decision d = a->Admit(run);
  EXPECT_FALSE(d.admitted);
  EXPECT_EQ(d.place.position, 1);  // never 0: the status schema wants 1 or more
  a->OnPod(&old, nullptr);  // gone: now the run waits in the queue, and its turn comes
  EXPECT_THAT(TakeWoken(), ElementsAre("a/r0"));
  EXPECT_TRUE(a->Admit(run).admitted);
}

TEST_F(AdmissionTest, TheEstimateFollowsTheRecentAdmissionRate) {
  auto a = Make({1, 0, 0});
  for (int i = 0; i < 12; ++i) AddRun(*a, "a", "r" + std::to_string(i), i);
  EXPECT_FALSE(a->Admit(runs_.at("a/r11")).place.eta.has_value());  // nothing admitted yet
  a->Open();
  std::string last = TakeWoken().back();
  for (int i = 0; i < 5; ++i) {  // one start every 6 s: 10 a minute
    clock_.Advance(std::chrono::seconds(6));
    Finish(*a, last);
    last = TakeWoken().back();
  }
  QueuePlace place = a->Admit(runs_.at("a/r11")).place;
  EXPECT_EQ(place.position, 6);
  ASSERT_TRUE(place.eta.has_value());
  EXPECT_EQ(place.eta->count(), 60);  // its turn is the 6th, at 6 admissions a minute
}

}  // namespace
}  // namespace coderun::reconcile
