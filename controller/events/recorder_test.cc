#include "events/recorder.h"

#include <gtest/gtest.h>

#include <condition_variable>
#include <mutex>
#include <set>
#include <thread>

#include "common/testing/fake_clock.h"
#include "kube/testing/fake_client.h"

namespace coderun::events {
namespace {

using kube::json;
using std::chrono::milliseconds;
using std::chrono::seconds;

constexpr auto kDeadline = seconds(10);

// A FakeClock whose WallNow blocks while held. The recorder reads the wall clock first
// thing when it sends, so holding it stops the sender between taking an event from its
// queue and writing it.
class GatedClock final : public Clock {
 public:
  SteadyTime Now() const override { return fake.Now(); }
  WallTime WallNow() const override {
    std::unique_lock lock(mu_);
    ++blocked_;
    cv_.notify_all();
    cv_.wait(lock, [this] { return !held_; });
    --blocked_;
    return fake.WallNow();
  }
  void Hold() {
    std::lock_guard lock(mu_);
    held_ = true;
  }
  void Release() {
    {
      std::lock_guard lock(mu_);
      held_ = false;
    }
    cv_.notify_all();
  }
  // True once a sender waits in WallNow (false after kDeadline).
  bool WaitForBlockedSender() {
    std::unique_lock lock(mu_);
    return cv_.wait_for(lock, kDeadline, [this] { return blocked_ > 0; });
  }

  FakeClock fake;

 private:
  mutable std::mutex mu_;
  mutable std::condition_variable cv_;
  bool held_ = false;        // guarded by mu_
  mutable int blocked_ = 0;  // guarded by mu_
};

ObjectRef RunRef(const std::string& name) {
  return {"coderun.dev/v1alpha1", "CodeRun", "team-a", name, "uid-" + name};
}

std::vector<json> Events(informer::FakeClient& api) {
  auto list = api.List({}, kube::kEvents, "team-a", kube::ListOptions{});
  if (!list.ok()) return {};
  return (*list)["items"].get<std::vector<json>>();
}

// Polls until `n` events exist (false after kDeadline).
bool WaitForEvents(informer::FakeClient& api, size_t n) {
  for (auto deadline = std::chrono::steady_clock::now() + kDeadline;
       std::chrono::steady_clock::now() < deadline;
       std::this_thread::sleep_for(milliseconds(5))) {
    if (Events(api).size() >= n) return true;
  }
  return false;
}

// Polls until the only event named for `reason` has `count` (false after kDeadline).
bool WaitForCount(informer::FakeClient& api, const std::string& reason, int count) {
  for (auto deadline = std::chrono::steady_clock::now() + kDeadline;
       std::chrono::steady_clock::now() < deadline;
       std::this_thread::sleep_for(milliseconds(5))) {
    for (const json& e : Events(api)) {
      if (e["reason"] == reason && e["count"] == count) return true;
    }
  }
  return false;
}

TEST(RecorderTest, SendsAnEventAboutTheObject) {
  informer::FakeClient api;
  FakeClock clock;
  Recorder recorder(api, clock, "coderun-controller");
  recorder.Record(RunRef("r1"), "Warning", kForeignPod, "a Pod not ours");
  ASSERT_TRUE(WaitForEvents(api, 1));
  const json e = Events(api).front();
  EXPECT_EQ(e["involvedObject"],
            (json{{"apiVersion", "coderun.dev/v1alpha1"}, {"kind", "CodeRun"},
                  {"namespace", "team-a"}, {"name", "r1"}, {"uid", "uid-r1"}}));
  EXPECT_EQ(e["type"], "Warning");
  EXPECT_EQ(e["reason"], "ForeignPod");
  EXPECT_EQ(e["message"], "a Pod not ours");
  EXPECT_EQ(e["count"], 1);
  EXPECT_EQ(e["source"]["component"], "coderun-controller");
  EXPECT_EQ(e["firstTimestamp"], e["lastTimestamp"]);
  EXPECT_EQ(e["metadata"]["name"].get<std::string>().rfind("r1.", 0), 0u);
}

TEST(RecorderTest, AnIdenticalEventWithinTheRepeatIntervalIsNotSentAgain) {
  informer::FakeClient api;
  FakeClock clock;
  Recorder recorder(api, clock, "c", {}, seconds(600));
  recorder.Record(RunRef("r1"), "Normal", kPodCreated, "created");
  ASSERT_TRUE(WaitForEvents(api, 1));
  clock.Advance(seconds(599));
  recorder.Record(RunRef("r1"), "Normal", kPodCreated, "created");
  // The queue is FIFO: once a later event is out, the repeat would have been too.
  clock.Advance(milliseconds(1));  // a distinct event name for the barrier
  recorder.Record(RunRef("r1"), "Normal", kFinished, "barrier");
  ASSERT_TRUE(WaitForEvents(api, 2));
  for (const json& e : Events(api)) EXPECT_EQ(e["count"], 1) << e.dump();
}

TEST(RecorderTest, AnIdenticalEventAfterTheRepeatIntervalBumpsTheCountOfTheSameEvent) {
  informer::FakeClient api;
  FakeClock clock;
  Recorder recorder(api, clock, "c", {}, seconds(600));
  recorder.Record(RunRef("r1"), "Normal", kPodCreated, "created");
  ASSERT_TRUE(WaitForEvents(api, 1));
  const json first = Events(api).front();
  for (int count = 2; count <= 3; ++count) {
    clock.Advance(seconds(600));
    recorder.Record(RunRef("r1"), "Normal", kPodCreated, "created");
    ASSERT_TRUE(WaitForCount(api, kPodCreated, count)) << "count " << count;
  }
  const std::vector<json> events = Events(api);
  ASSERT_EQ(events.size(), 1u) << "aggregated into the first event";
  EXPECT_EQ(events[0]["metadata"]["name"], first["metadata"]["name"]);
  EXPECT_EQ(events[0]["firstTimestamp"], first["firstTimestamp"]);
  EXPECT_NE(events[0]["lastTimestamp"], first["lastTimestamp"]);
}

TEST(RecorderTest, EventsDifferingInAnyFieldAreNotAggregated) {
  informer::FakeClient api;
  FakeClock clock;
  Recorder recorder(api, clock, "c");
  size_t sent = 0;
  // The sender names an event after the wall clock when it sends; waiting for each one
  // before the clock moves on keeps the names distinct.
  const auto record = [&](const ObjectRef& object, const char* type, const char* reason,
                          const char* message) {
    clock.Advance(milliseconds(1));
    recorder.Record(object, type, reason, message);
    ASSERT_TRUE(WaitForEvents(api, ++sent)) << reason << " " << message;
  };
  record(RunRef("r1"), "Normal", kPodCreated, "m");
  record(RunRef("r2"), "Normal", kPodCreated, "m");
  record(RunRef("r1"), "Warning", kPodCreated, "m");
  record(RunRef("r1"), "Normal", kFinished, "m");
  record(RunRef("r1"), "Normal", kPodCreated, "other");
  ASSERT_EQ(Events(api).size(), 5u);
  for (const json& e : Events(api)) EXPECT_EQ(e["count"], 1) << e.dump();
}

TEST(RecorderTest, AnAggregatedEventThatWasDeletedIsCreatedAgain) {
  informer::FakeClient api;
  FakeClock clock;
  Recorder recorder(api, clock, "c", {}, seconds(600));
  recorder.Record(RunRef("r1"), "Normal", kPodCreated, "created");
  ASSERT_TRUE(WaitForEvents(api, 1));
  const std::string name = Events(api).front()["metadata"]["name"];
  ASSERT_TRUE(api.Erase(kube::kEvents, "team-a", name));  // the apiserver's 1 h event TTL
  clock.Advance(seconds(600));
  recorder.Record(RunRef("r1"), "Normal", kPodCreated, "created");
  ASSERT_TRUE(WaitForEvents(api, 1));
  const json e = Events(api).front();
  EXPECT_NE(e["metadata"]["name"], name);
  EXPECT_EQ(e["count"], 1);
}

TEST(RecorderTest, DropsAndCountsEventsWhileItsQueueIsFull) {
  informer::FakeClient api;
  GatedClock clock;
  metrics::Registry registry;
  RecorderMetrics m = metrics::MustRegister(RegisterMetrics(registry));
  EXPECT_NE(registry.Render().find("# TYPE coderun_events_dropped_total counter\n"
                                   "coderun_events_dropped_total 0\n"),
            std::string::npos)
      << "exported from the start";
  Recorder recorder(api, clock, "c", m, seconds(600), /*max_pending=*/2);
  clock.Hold();
  recorder.Record(RunRef("r0"), "Normal", kPodCreated, "m");  // taken by the sender, which waits
  const bool blocked = clock.WaitForBlockedSender();
  EXPECT_TRUE(blocked);
  for (const char* name : {"r1", "r2", "r3", "r4", "r5"}) {
    recorder.Record(RunRef(name), "Normal", kPodCreated, "m");  // r1, r2 queued; the rest dropped
  }
  EXPECT_EQ(recorder.dropped(), 3);
  EXPECT_EQ(registry.CounterValue("coderun_events_dropped_total"), 3);
  EXPECT_NE(registry.Render().find("coderun_events_dropped_total 3\n"), std::string::npos);
  clock.Release();
  ASSERT_TRUE(blocked);
  ASSERT_TRUE(WaitForEvents(api, 3));
  // The queue drained: events are accepted again.
  recorder.Record(RunRef("r6"), "Normal", kPodCreated, "m");
  ASSERT_TRUE(WaitForEvents(api, 4));
  recorder.Stop();
  std::set<std::string> sent;
  for (const json& e : Events(api)) sent.insert(e["involvedObject"]["name"]);
  EXPECT_EQ(sent, (std::set<std::string>{"r0", "r1", "r2", "r6"}));
  EXPECT_EQ(recorder.dropped(), 3);
  EXPECT_EQ(registry.CounterValue("coderun_events_dropped_total"), 3);
}

TEST(RecorderTest, MetricsRegisterOncePerRegistry) {
  metrics::Registry registry;
  ASSERT_TRUE(RegisterMetrics(registry).ok());
  EXPECT_TRUE(absl::IsAlreadyExists(RegisterMetrics(registry).status()));
}

TEST(RecorderTest, RecordsNothingAfterStop) {
  informer::FakeClient api;
  FakeClock clock;
  Recorder recorder(api, clock, "c");
  recorder.Stop();
  recorder.Record(RunRef("r1"), "Normal", kPodCreated, "m");
  recorder.Stop();  // idempotent
  EXPECT_TRUE(Events(api).empty());
  EXPECT_EQ(recorder.dropped(), 0);
}

}  // namespace
}  // namespace coderun::events
