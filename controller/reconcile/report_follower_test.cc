#include "reconcile/report_follower.h"

#include <gtest/gtest.h>

#include <chrono>
#include <mutex>
#include <thread>
#include <vector>

#include "informer/fake_client.h"
#include "runner/report.h"

namespace coderun::reconcile {
namespace {

using kube::json;
using std::chrono::milliseconds;
using std::chrono::seconds;

std::string Frame(const std::string& out = "HELLO\n") {
  runner::Report report;
  report.exit_code = 0;
  report.stdout_text = out;
  return runner::FormatReport(report);
}

// Polls `done` until it holds or 10 s have passed.
template <typename F>
bool Eventually(F done) {
  const auto deadline = std::chrono::steady_clock::now() + seconds(10);
  while (!done()) {
    if (std::chrono::steady_clock::now() > deadline) return false;
    std::this_thread::sleep_for(milliseconds(2));
  }
  return true;
}

class ReportFollowerTest : public ::testing::Test {
 protected:
  ReportFollowerTest() { Make({}); }

  void Make(ReportFollowerOptions options) {
    options.initial_backoff = milliseconds(1);
    options.max_backoff = milliseconds(5);
    follower_.reset();
    follower_ = std::make_unique<ReportFollower>(
        api_,
        [this](const std::string& key) -> std::shared_ptr<const Pod> {
          const size_t slash = key.find('/');
          auto obj = api_.Get(kube::kPods, key.substr(0, slash), key.substr(slash + 1));
          if (!obj.ok()) return nullptr;
          return std::make_shared<Pod>(*DecodePod(*obj));
        },
        [this](const std::string& run_key) {
          std::lock_guard lock(mu_);
          notified_.push_back(run_key);
        },
        &metrics_, options);
  }

  // A bound Pod whose runner is (as far as its status says) running.
  Pod PutPod(const std::string& name) {
    json pod = {{"metadata", {{"name", name}, {"namespace", "ns"}}},
                {"spec", {{"nodeName", "node-1"}}},
                {"status", {{"phase", "Running"}}}};
    return *DecodePod(api_.Put(kube::kPods, pod));
  }

  std::vector<std::string> Notified() {
    std::lock_guard lock(mu_);
    return notified_;
  }
  double Count(const std::string& result) {
    return metrics_.CounterValue(kReportFollowTotal, {{"result", result}});
  }

  metrics::Registry metrics_;
  informer::FakeClient api_;
  std::mutex mu_;
  std::vector<std::string> notified_;  // guarded by mu_
  std::unique_ptr<ReportFollower> follower_;
};

TEST(CheckFrameTest, CompleteOnlyOnceEveryAnnouncedByteIsThere) {
  const std::string frame = Frame();
  for (size_t n = 0; n < frame.size(); ++n) {
    EXPECT_EQ(CheckFrame(frame.substr(0, n)), FrameState::kPartial) << n;
  }
  EXPECT_EQ(CheckFrame(frame), FrameState::kComplete);
  EXPECT_EQ(CheckFrame("Traceback (most recent call last):\n"), FrameState::kNotAFrame);
  EXPECT_EQ(CheckFrame("coderun-report/v1 x\n"), FrameState::kNotAFrame);
  EXPECT_EQ(CheckFrame("coderun-report/v1 \n"), FrameState::kNotAFrame);
  EXPECT_EQ(CheckFrame("hello"), FrameState::kNotAFrame);
  EXPECT_EQ(CheckFrame("coderun-report/v1 12345678901234567890123"), FrameState::kNotAFrame);
}

TEST_F(ReportFollowerTest, RetriesAWaitingContainerThenKeepsTheFrameAndNotifiesTheRun) {
  Pod pod = PutPod("p");
  const std::string frame = Frame();
  // 400 while the container is created, then a stream that ends before the frame did,
  // then the frame in pieces cut anywhere.
  api_.ScriptPodLogFollow(
      "ns", "p",
      {{informer::FakeClient::WaitingToStart("p"), {}},
       {absl::OkStatus(), {frame.substr(0, 10)}},
       {absl::OkStatus(), {frame.substr(0, 3), frame.substr(3, 20), frame.substr(23)}}});
  ASSERT_TRUE(follower_->Follow(pod, "ns/run", runner::MaxFrameBytes(64), seconds(30)));
  ASSERT_TRUE(Eventually([&] { return !Notified().empty(); }));
  EXPECT_EQ(Notified(), std::vector<std::string>{"ns/run"});
  EXPECT_EQ(follower_->Frame(pod.uid), frame);
  EXPECT_EQ(api_.follow_calls("ns", "p"), 3);
  EXPECT_EQ(Count("frame"), 1);
  ASSERT_TRUE(Eventually([&] { return follower_->Active() == 0; }));

  // One follow per Pod UID: asking again reads nothing more.
  EXPECT_TRUE(follower_->Follow(pod, "ns/run", runner::MaxFrameBytes(64), seconds(30)));
  EXPECT_EQ(api_.follow_calls("ns", "p"), 3);
}

TEST_F(ReportFollowerTest, FramesAreDroppedAfterUseAndForVanishedPods) {
  Pod a = PutPod("a");
  Pod b = PutPod("b");
  api_.SetPodLog("ns", "a", Frame("a"));
  api_.SetPodLog("ns", "b", Frame("b"));
  ASSERT_TRUE(follower_->Follow(a, "ns/a", runner::MaxFrameBytes(64), seconds(30)));
  ASSERT_TRUE(follower_->Follow(b, "ns/b", runner::MaxFrameBytes(64), seconds(30)));
  ASSERT_TRUE(Eventually([&] { return follower_->FramesHeld() == 2; }));
  follower_->Drop(a.uid);
  EXPECT_FALSE(follower_->Frame(a.uid).has_value());
  follower_->Forget(b.uid);
  EXPECT_FALSE(follower_->Frame(b.uid).has_value());
  EXPECT_EQ(follower_->FramesHeld(), 0u);
}

TEST_F(ReportFollowerTest, StopsWhenThePodEndsWithoutAFrame) {
  Pod pod = PutPod("p");  // no log: every read fails
  ASSERT_TRUE(follower_->Follow(pod, "ns/run", runner::MaxFrameBytes(64), seconds(30)));
  ASSERT_TRUE(Eventually([&] { return api_.follow_calls("ns", "p") >= 2; }));
  json obj = *api_.Get(kube::kPods, "ns", "p");
  obj["status"] = {{"phase", "Failed"}};
  api_.Put(kube::kPods, obj);
  ASSERT_TRUE(Eventually([&] { return follower_->Active() == 0; }));
  EXPECT_EQ(Count("pod_ended"), 1);
  EXPECT_FALSE(follower_->Frame(pod.uid).has_value());
  EXPECT_TRUE(Notified().empty());
}

TEST_F(ReportFollowerTest, GivesUpAtItsDeadlineAndOnALogThatIsNoFrame) {
  Pod late = PutPod("late");
  ASSERT_TRUE(follower_->Follow(late, "ns/late", runner::MaxFrameBytes(64), seconds(0)));
  Pod noise = PutPod("noise");
  api_.SetPodLog("ns", "noise", "Traceback (most recent call last):\n");
  ASSERT_TRUE(follower_->Follow(noise, "ns/noise", runner::MaxFrameBytes(64), seconds(30)));
  ASSERT_TRUE(Eventually([&] { return follower_->Active() == 0; }));
  EXPECT_EQ(Count("error"), 2);
  EXPECT_EQ(follower_->FramesHeld(), 0u);
  EXPECT_TRUE(Notified().empty());
}

TEST_F(ReportFollowerTest, NeverReadsPastTheFrameBound) {
  Pod pod = PutPod("p");
  const std::string frame = Frame(std::string(1000, 'x'));
  api_.ScriptPodLogFollow("ns", "p", {{absl::OkStatus(), {frame}}});
  ASSERT_TRUE(follower_->Follow(pod, "ns/run", 100, seconds(30)));
  ASSERT_TRUE(Eventually([&] { return follower_->Active() == 0; }));
  EXPECT_EQ(Count("error"), 1);
  EXPECT_FALSE(follower_->Frame(pod.uid).has_value());
}

TEST_F(ReportFollowerTest, BeyondMaxFollowersRunsAreLeftToTheUsualPath) {
  Make({.max_followers = 1});
  Pod a = PutPod("a");
  Pod b = PutPod("b");  // no logs: a keeps retrying
  ASSERT_TRUE(follower_->Follow(a, "ns/a", runner::MaxFrameBytes(64), seconds(30)));
  EXPECT_FALSE(follower_->Follow(b, "ns/b", runner::MaxFrameBytes(64), seconds(30)));
  EXPECT_EQ(Count("limit"), 1);
  EXPECT_EQ(follower_->Active(), 1);
  EXPECT_EQ(api_.follow_calls("ns", "b"), 0);
}

TEST_F(ReportFollowerTest, StopEndsRetryingFollowersPromptly) {
  Pod pod = PutPod("p");
  ASSERT_TRUE(follower_->Follow(pod, "ns/run", runner::MaxFrameBytes(64), seconds(30)));
  ASSERT_TRUE(Eventually([&] { return api_.follow_calls("ns", "p") >= 1; }));
  follower_->Stop();
  ASSERT_TRUE(Eventually([&] { return follower_->Active() == 0; }));
  EXPECT_FALSE(follower_->Follow(PutPod("q"), "ns/q", 100, seconds(30)));
}

}  // namespace
}  // namespace coderun::reconcile
