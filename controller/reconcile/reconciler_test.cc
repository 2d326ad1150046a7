// The reconciler against an in-memory API (informer::FakeClient). Its "caches" read the
// fake store directly, so each Reconcile() sees the world as the informers would once
// caught up.
#include "reconcile/reconciler.h"

#include <gtest/gtest.h>

#include <map>

#include "absl/strings/ascii.h"

#include "kube/testing/fake_client.h"
#include "kube/errors.h"
#include "reconcile/kueue.h"
#include "reconcile/network_policy.h"
#include "reconcile/pod.h"
#include "reconcile/pool.h"
#include "reconcile/status.h"
#include "api/input_digest.h"
#include "api/report.h"
#include "api/request.h"
#include "common/testing/fake_clock.h"

namespace coderun::reconcile {
namespace {

using kube::json;

class ReconcilerTest : public ::testing::Test {
 protected:
  ReconcilerTest() {
    settings_.uid_low = 300000;
    settings_.uid_high = 300009;
    settings_.max_pending_seconds = 60;
    settings_.default_ttl_seconds = 3600;
    Caches caches{
        [this](const std::string& key) -> std::shared_ptr<const CodeRun> {
          if (auto lag = lagging_.find(key); lag != lagging_.end()) return lag->second;
          auto [ns, name] = Split(key);
          auto obj = api_.Get({}, kube::kCodeRuns, ns, name);
          if (!obj.ok()) return nullptr;
          return std::make_shared<CodeRun>(*DecodeCodeRun(*obj));
        },
        [this](const std::string& key) -> std::shared_ptr<const Pod> {
          auto [ns, name] = Split(key);
          auto obj = api_.Get({}, kube::kPods, ns, name);
          if (!obj.ok()) return nullptr;
          return std::make_shared<Pod>(*DecodePod(*obj));
        },
        [this](const std::string& ns) {
          std::vector<std::shared_ptr<const NetworkPolicy>> out;
          auto list = api_.List({}, kube::kNetworkPolicies, ns, {});
          for (const auto& item : (*list)["items"]) {
            out.push_back(std::make_shared<NetworkPolicy>(*DecodeNetworkPolicy(item)));
          }
          return out;
        },
        [this](const std::string& run_uid) {
          std::vector<std::string> names;
          auto list = api_.List({}, kube::kPods, "ns", {});  // keep it alive for the loop
          for (const auto& item : (*list)["items"]) {
            Pod pod = *DecodePod(item);
            if (pod.run_uid_label == run_uid && pod.controller_uid != run_uid) {
              names.push_back(pod.name);
            }
          }
          return names;
        },
        [this](const std::string& key) -> std::shared_ptr<const Workload> {
          auto [ns, name] = Split(key);
          auto obj = api_.Get({}, kWorkloads, ns, name);
          if (!obj.ok()) return nullptr;
          return std::make_shared<Workload>(*DecodeWorkload(*obj));
        }};
    caches_ = caches;
    reconciler_ =
        std::make_unique<Reconciler>(api_, caches, settings_, uids_, events_, clock_, run_metrics_);
  }

  static std::pair<std::string, std::string> Split(const std::string& key) {
    auto slash = key.find('/');
    return {key.substr(0, slash), key.substr(slash + 1)};
  }

  std::string Now() const {
    return FormatTime(std::chrono::duration_cast<std::chrono::seconds>(
                          clock_.WallNow().time_since_epoch())
                          .count());
  }

  json CreateRun(const std::string& name, json limits = json::object()) {
    return CreateRunWithSpec(name, {{"code", "print(1)"}, {"stdin", "in"}, {"limits", limits}});
  }
  json CreateRunWithSpec(const std::string& name, json spec) {
    return api_.Put(kube::kCodeRuns,
                    {{"apiVersion", "coderun.dev/v1alpha1"},
                     {"kind", "CodeRun"},
                     {"metadata", {{"name", name}, {"namespace", "ns"}, {"generation", 1},
                                   {"creationTimestamp", Now()}}},
                     {"spec", std::move(spec)}});
  }

  CodeRun Run(const std::string& name) { return *DecodeCodeRun(*api_.Get({}, kube::kCodeRuns, "ns", name)); }
  Result Reconcile(const std::string& name) { return reconciler_->Reconcile("ns/" + name); }
  int PodCount() { return static_cast<int>((*api_.List({}, kube::kPods, "ns", {}))["items"].size()); }

  // Plays the kubelet: the runner container terminated with `exit_code`.
  void Terminate(const std::string& run, int exit_code, const std::string& reason = "",
                 const std::string& started_at = "") {
    CodeRun r = Run(run);
    json pod = *api_.Get({}, kube::kPods, "ns", PodName(r.name, r.uid));
    json terminated = {{"exitCode", exit_code}, {"reason", reason}};
    if (!started_at.empty()) terminated["startedAt"] = started_at;
    pod["status"] = {{"phase", exit_code == 0 ? "Succeeded" : "Failed"},
                     {"containerStatuses",
                      {{{"name", "runner"}, {"state", {{"terminated", terminated}}}}}}};
    api_.Put(kube::kPods, pod);
  }

  // The runner reported `exit_code`, then its container terminated with it.
  void TerminateWithReport(const std::string& run, int exit_code) {
    api::Report report;
    report.exit_code = exit_code;
    api_.SetPodLog("ns", Run(run).pod_name, api::FormatReport(report));
    Terminate(run, exit_code);
  }

  // Plays an `edit` user: a Pod under the run's Pod name, owned by the run, as the
  // controller would build it, but created by someone else.
  json PlantImpostorPod(const std::string& run_name) {
    CodeRun run = Run(run_name);
    ValidLimits limits{10, 1000, 268435456, 50, 65536};
    json pod = BuildPod(run, limits, settings_, 300005, std::string(64, '0'));
    auto created = api_.Create({}, kube::kPods, "ns", pod);
    EXPECT_TRUE(created.ok()) << created.status();
    return *created;
  }

  struct FakeEvents final : events::EventSink {
    void Record(const events::ObjectRef& o, const std::string& type, const std::string& reason,
                const std::string& message) override {
      recorded.push_back(o.name + " " + type + " " + reason + " " + message);
    }
    bool Has(const std::string& needle) const {
      for (const auto& e : recorded) {
        if (e.find(needle) != std::string::npos) return true;
      }
      return false;
    }
    std::vector<std::string> recorded;
  };

  // CodeRun cache entries that lag behind the store (an informer not yet caught up).
  std::map<std::string, std::shared_ptr<const CodeRun>> lagging_;
  Settings settings_;
  Caches caches_;
  metrics::Registry metrics_;
  ReconcilerMetrics run_metrics_ = metrics::MustRegister(RegisterMetrics(metrics_));
  FakeEvents events_;
  informer::FakeClient api_;
  FakeClock clock_;
  UidAllocator uids_{300000, 300009};
  std::unique_ptr<Reconciler> reconciler_;
};

TEST_F(ReconcilerTest, NewRunGetsPolicyThenSecretThenOnePod) {
  CreateRun("hello");
  Result r = Reconcile("hello");
  ASSERT_TRUE(r.error.ok()) << r.error;
  EXPECT_EQ(r.outcome, "created");
  CodeRun run = Run("hello");
  EXPECT_EQ(run.phase, "Pending");
  EXPECT_EQ(run.reason, "PodPending");
  EXPECT_EQ(run.pod_name, PodName("hello", run.uid));
  EXPECT_TRUE(api_.Get({}, kube::kNetworkPolicies, "ns", kNetworkPolicyName).ok());
  auto secret = api_.Get({}, kube::kSecrets, "ns", run.pod_name);
  ASSERT_TRUE(secret.ok());
  EXPECT_EQ((*secret)["stringData"]["code"], "print(1)");
  auto pod = api_.Get({}, kube::kPods, "ns", run.pod_name);
  ASSERT_TRUE(pod.ok());
  EXPECT_EQ((*pod)["spec"]["securityContext"]["runAsUser"], 300000);

  // Idempotent: again, and again, still one Pod.
  EXPECT_TRUE(Reconcile("hello").error.ok());
  EXPECT_TRUE(Reconcile("hello").error.ok());
  EXPECT_EQ(PodCount(), 1);
  EXPECT_TRUE(events_.Has("hello Normal PodCreated Created Pod " + run.pod_name));
}

TEST_F(ReconcilerTest, PodOutcomeBecomesTerminalStatusThenChildrenGo) {
  CreateRun("hello");
  ASSERT_TRUE(Reconcile("hello").error.ok());
  TerminateWithReport("hello", 1);
  Result r = Reconcile("hello");
  ASSERT_TRUE(r.error.ok()) << r.error;
  CodeRun run = Run("hello");
  EXPECT_EQ(run.phase, "Failed");
  EXPECT_EQ(run.reason, "NonZeroExit");
  EXPECT_EQ(run.exit_code, 1);
  EXPECT_EQ(run.finished_condition_status, "True");
  EXPECT_NE(run.completion_time, 0);
  EXPECT_EQ(PodCount(), 0);
  EXPECT_FALSE(api_.Get({}, kube::kSecrets, "ns", run.pod_name).ok());
  ASSERT_TRUE(r.requeue_after.has_value());
  EXPECT_EQ(*r.requeue_after, std::chrono::seconds(3600));
}

TEST_F(ReconcilerTest, APodThisProcessDeletedIsNotDeletedAgainWhileTheCacheLags) {
  CreateRun("hello");
  ASSERT_TRUE(Reconcile("hello").error.ok());
  const json pod = *api_.Get({}, kube::kPods, "ns", Run("hello").pod_name);
  TerminateWithReport("hello", 0);
  ASSERT_TRUE(Reconcile("hello").error.ok());
  ASSERT_EQ(PodCount(), 0);
  // The Pod's events keep arriving from a cache that has not seen the deletion: the store
  // here plays that cache. No second delete goes out.
  api_.Put(kube::kPods, pod);
  EXPECT_EQ(Reconcile("hello").outcome, "ttl");
  EXPECT_EQ(PodCount(), 1);
  // Another Pod under the name (not the one deleted) is deleted.
  json other = pod;
  other["metadata"]["uid"] = "another-uid";
  api_.Put(kube::kPods, other);
  EXPECT_EQ(Reconcile("hello").outcome, "ttl");
  EXPECT_EQ(PodCount(), 0);
}

TEST_F(ReconcilerTest, RunnerReportFillsOutputUsageAndTheRealOutcome) {
  CreateRun("hello");
  ASSERT_TRUE(Reconcile("hello").error.ok());
  api::Report report;
  report.exit_code = 0;
  report.stdout_text = "HELLO\n";
  report.stderr_text = "warn\n";
  report.wall_millis = 21;
  report.cpu_millis = 18;
  report.max_rss_bytes = 9437184;
  api_.SetPodLog("ns", Run("hello").pod_name, api::FormatReport(report));
  Terminate("hello", 0);
  ASSERT_TRUE(Reconcile("hello").error.ok());
  json status = (*api_.Get({}, kube::kCodeRuns, "ns", "hello"))["status"];
  EXPECT_EQ(status["phase"], "Succeeded");
  EXPECT_EQ(status["reason"], "Completed");
  EXPECT_EQ(status["stdout"], "HELLO\n");
  EXPECT_EQ(status["stderr"], "warn\n");
  EXPECT_EQ(status["stdoutTruncated"], false);
  EXPECT_EQ(status["usage"]["wallMillis"], 21);
  EXPECT_EQ(status["usage"]["cpuMillis"], 18);
  EXPECT_EQ(status["usage"]["maxRSSBytes"], 9437184);
}

TEST_F(ReconcilerTest, TimeLimitFromTheReportKeepsPartialOutput) {
  CreateRun("slow", {{"outputBytes", 8}});
  ASSERT_TRUE(Reconcile("slow").error.ok());
  api::Report report;
  report.exit_code = -1;
  report.signal = 9;
  report.limit = api::Limit::kTime;
  report.stdout_text = "<<<<";  // 24 bytes as the apiserver encodes it: cut to fit 8
  api_.SetPodLog("ns", Run("slow").pod_name, api::FormatReport(report));
  Terminate("slow", 137);
  ASSERT_TRUE(Reconcile("slow").error.ok());
  json status = (*api_.Get({}, kube::kCodeRuns, "ns", "slow"))["status"];
  EXPECT_EQ(status["reason"], "TimeLimitExceeded");
  EXPECT_EQ(status["signal"], 9);
  EXPECT_EQ(status["stdout"], "<");
  EXPECT_EQ(status["stdoutTruncated"], true);
}

TEST_F(ReconcilerTest, ForgedOrMissingReportFallsBackToThePodStateAndSaysSo) {
  CreateRun("forged");
  ASSERT_TRUE(Reconcile("forged").error.ok());
  api_.SetPodLog("ns", Run("forged").pod_name,
                 "coderun-report/v1 20\n{\"exitCode\":0}\ncoderun-report-end\n");
  Terminate("forged", 1);
  ASSERT_TRUE(Reconcile("forged").error.ok());
  CodeRun run = Run("forged");
  EXPECT_EQ(run.reason, "PodFailed");
  EXPECT_FALSE(run.exit_code.has_value()) << "the runner's exit code is not the program's";
  EXPECT_NE(run.message.find("runner report unreadable"), std::string::npos) << run.message;
  EXPECT_NE(run.message.find("exited with code 1"), std::string::npos) << run.message;
}

// A runner container that exited 0 without a report (an impostor printing nothing, a
// runner killed before its last write) must never read as success.
TEST_F(ReconcilerTest, MissingReportNeverReadsAsSuccess) {
  CreateRun("nolog");
  ASSERT_TRUE(Reconcile("nolog").error.ok());
  Terminate("nolog", 0);
  ASSERT_TRUE(Reconcile("nolog").error.ok());
  CodeRun run = Run("nolog");
  EXPECT_EQ(run.phase, "Failed");
  EXPECT_EQ(run.reason, "PodFailed");
  EXPECT_NE(run.message.find("runner report"), std::string::npos) << run.message;

  // The log read keeps failing past the retry window: still no success.
  CreateRun("unreadable");
  ASSERT_TRUE(Reconcile("unreadable").error.ok());
  api_.SetPodLogError("ns", Run("unreadable").pod_name, 503);
  Terminate("unreadable", 0);
  json ended = *api_.Get({}, kube::kPods, "ns", Run("unreadable").pod_name);
  ended["status"]["containerStatuses"][0]["state"]["terminated"]["finishedAt"] = Now();
  api_.Put(kube::kPods, ended);
  EXPECT_FALSE(Reconcile("unreadable").error.ok()) << "retried while the window lasts";
  clock_.Advance(std::chrono::seconds(61));
  ASSERT_TRUE(Reconcile("unreadable").error.ok());
  EXPECT_EQ(Run("unreadable").reason, "PodFailed");

  // The Pod says Succeeded but has no runner container state at all.
  CreateRun("bare");
  ASSERT_TRUE(Reconcile("bare").error.ok());
  json pod = *api_.Get({}, kube::kPods, "ns", Run("bare").pod_name);
  pod["status"] = {{"phase", "Succeeded"}};
  api_.Put(kube::kPods, pod);
  ASSERT_TRUE(Reconcile("bare").error.ok());
  EXPECT_EQ(Run("bare").reason, "PodFailed");
}

TEST_F(ReconcilerTest, CacheBehindOwnStatusWriteWaitsForItsEvent) {
  CreateRun("hello");
  auto before_write = std::make_shared<const CodeRun>(Run("hello"));
  ASSERT_EQ(Reconcile("hello").outcome, "created");  // wrote the Pending status
  api::Report report;
  report.exit_code = 0;
  api_.SetPodLog("ns", Run("hello").pod_name, api::FormatReport(report));
  Terminate("hello", 0);
  // The Pod's event comes before the watch event of that status write: no log read, no
  // patch that the apiserver would refuse (the fake, like the apiserver, holds the patch's
  // resourceVersion against the stored one), a look again later.
  lagging_["ns/hello"] = before_write;
  Result r = Reconcile("hello");
  ASSERT_TRUE(r.error.ok()) << r.error;
  EXPECT_EQ(r.outcome, "stale");
  ASSERT_TRUE(r.requeue_after.has_value());
  EXPECT_EQ(api_.pod_log_reads(), 0);
  EXPECT_EQ(Run("hello").phase, "Pending");
  // The cache catches up: the run finishes with one log read.
  lagging_.clear();
  r = Reconcile("hello");
  ASSERT_TRUE(r.error.ok()) << r.error;
  EXPECT_EQ(r.outcome, "finished");
  EXPECT_EQ(api_.pod_log_reads(), 1);
  EXPECT_EQ(Run("hello").phase, "Succeeded");
  // A cache that shows some other version (someone else's write) is not waited on.
  CreateRun("other");
  auto other_before = std::make_shared<const CodeRun>(Run("other"));
  ASSERT_EQ(Reconcile("other").outcome, "created");
  lagging_["ns/other"] = std::make_shared<const CodeRun>(Run("other"));
  EXPECT_NE(Reconcile("other").outcome, "stale");
  lagging_["ns/other"] = other_before;  // the entry was dropped with that newer sighting
  r = Reconcile("other");
  EXPECT_NE(r.outcome, "stale");
  EXPECT_TRUE(kube::IsConflict(r.error)) << r.error;  // so the old version goes to the API
}

TEST_F(ReconcilerTest, TerminalStatusIsNeverRewritten) {
  CreateRun("hello");
  ASSERT_TRUE(Reconcile("hello").error.ok());
  TerminateWithReport("hello", 0);
  ASSERT_TRUE(Reconcile("hello").error.ok());
  std::string rv = Run("hello").resource_version;
  ASSERT_TRUE(Reconcile("hello").error.ok());
  clock_.Advance(std::chrono::seconds(10));
  ASSERT_TRUE(Reconcile("hello").error.ok());
  EXPECT_EQ(Run("hello").resource_version, rv);
  EXPECT_EQ(Run("hello").phase, "Succeeded");
}

TEST_F(ReconcilerTest, FinishedRunsAreCountedOnceByPhaseAndReasonWithTheirDuration) {
  CreateRun("hello");
  ASSERT_TRUE(Reconcile("hello").error.ok());
  const std::string started = Now();
  clock_.Advance(std::chrono::seconds(7));
  api::Report report;
  report.exit_code = 0;
  api_.SetPodLog("ns", Run("hello").pod_name, api::FormatReport(report));
  Terminate("hello", 0, "Completed", started);
  ASSERT_TRUE(Reconcile("hello").error.ok());
  ASSERT_EQ(Run("hello").phase, "Succeeded");
  for (int i = 0; i < 3; ++i) ASSERT_TRUE(Reconcile("hello").error.ok());
  const metrics::Labels succeeded = {{"phase", "Succeeded"}, {"reason", "Completed"}};
  EXPECT_EQ(metrics_.CounterValue("coderun_runs_finished_total", succeeded), 1);
  EXPECT_EQ(metrics_.HistogramCountAndSum("coderun_run_duration_seconds"),
            (std::pair<double, double>{1, 7}));
  EXPECT_EQ(metrics_.HistogramCountAndSum("coderun_run_latency_seconds"),
            (std::pair<double, double>{1, 7}));

  // Refused before any Pod: counted, but it never ran, so no duration.
  CreateRun("big", {{"memory", "64Gi"}});
  ASSERT_TRUE(Reconcile("big").error.ok());
  ASSERT_TRUE(Reconcile("big").error.ok());
  EXPECT_EQ(metrics_.CounterValue("coderun_runs_finished_total",
                                  {{"phase", "Failed"}, {"reason", "InvalidSpec"}}),
            1);
  EXPECT_EQ(metrics_.HistogramCountAndSum("coderun_run_duration_seconds").first, 1);
  EXPECT_EQ(metrics_.HistogramCountAndSum("coderun_run_latency_seconds").first, 2);  // waited too
}

// A judge run of three cases: the Secret carries their input (never the expected
// outputs), the Pod runs them all, and the report's cases are judged into status, counted
// once and announced once.
TEST_F(ReconcilerTest, JudgeRunIsJudgedAgainstExpectedOutputsTheSecretNeverHeld) {
  CreateRunWithSpec("judge",
                    {{"code", "print(sum(map(int, input().split())))"},
                    {"limits", {{"timeoutSeconds", 2}}},
                    {"tests",
                     {{{"name", "one"}, {"stdin", "1 2\n"}, {"expectedStdout", "EXPECTED-3\n"}},
                      {{"name", "two"}, {"stdin", "2 2\n"}, {"expectedStdout", "EXPECTED-4\n"},
                       {"timeoutSeconds", 5}},
                      {{"name", "three"}, {"stdin", "9 9\n"}, {"expectedStdout", "EXPECTED-18\n"}}}}});
  ASSERT_EQ(Reconcile("judge").outcome, "created");
  const CodeRun run = Run("judge");
  json secret = *api_.Get({}, kube::kSecrets, "ns", run.pod_name);
  const std::string tests_json = secret["stringData"]["tests.json"];
  EXPECT_EQ(json::parse(tests_json),
            json::parse(R"([{"name":"one","stdin":"1 2\n","args":[],"timeoutSeconds":2},
                            {"name":"two","stdin":"2 2\n","args":[],"timeoutSeconds":5},
                            {"name":"three","stdin":"9 9\n","args":[],"timeoutSeconds":2}])"));
  json pod = *api_.Get({}, kube::kPods, "ns", run.pod_name);
  EXPECT_EQ(secret.dump().find("EXPECTED"), std::string::npos);
  EXPECT_EQ(pod.dump().find("EXPECTED"), std::string::npos);
  const json& args = pod["spec"]["containers"][0]["args"];
  const std::string digest = api::InputDigest(
      secret["stringData"]["nonce"].get<std::string>(), secret["stringData"]["code"].get<std::string>(),
      "", "[]", tests_json);
  EXPECT_NE(std::find(args.begin(), args.end(), "--input-digest=" + digest), args.end());
  EXPECT_NE(std::find(args.begin(), args.end(), "--tests"), args.end());
  EXPECT_NE(std::find(args.begin(), args.end(), "--case-stdout-bytes=65536"), args.end());
  EXPECT_NE(std::find(args.begin(), args.end(), "--output-bytes=10922"), args.end());
  EXPECT_EQ(std::find(args.begin(), args.end(), "--stop-on-failure"), args.end());
  EXPECT_EQ(pod["spec"]["activeDeadlineSeconds"], 2 + 5 + 2 + 3 + settings_.deadline_margin_seconds);

  api::Report report;
  report.exit_code = 0;
  report.wall_millis = 90;
  for (const auto& [name, out] : std::vector<std::pair<std::string, std::string>>{
           {"one", "EXPECTED-3\n"}, {"two", "EXPECTED-5\n"}}) {
    api::CaseReport c;
    c.name = name;
    c.exit_code = 0;
    c.stdout_text = out;
    report.tests.push_back(c);
  }
  api_.SetPodLog("ns", run.pod_name, api::FormatReport(report));
  Terminate("judge", 0);
  ASSERT_EQ(Reconcile("judge").outcome, "finished");
  for (int i = 0; i < 3; ++i) ASSERT_TRUE(Reconcile("judge").error.ok());
  json status = (*api_.Get({}, kube::kCodeRuns, "ns", "judge"))["status"];
  EXPECT_EQ(status["phase"], "Succeeded");
  EXPECT_EQ(status["reason"], "Completed");
  EXPECT_EQ(status["message"], "1/3 passed: WrongAnswer");
  EXPECT_EQ(status["exitCode"], 0);
  EXPECT_EQ(status["stdout"], "");
  EXPECT_EQ(status["verdict"], "WrongAnswer");
  EXPECT_EQ(status["testsPassed"], 1);
  EXPECT_EQ(status["testsTotal"], 3);
  EXPECT_EQ(status["passed"], "1/3");
  ASSERT_EQ(status["tests"].size(), 3u);
  EXPECT_EQ(status["tests"][0]["verdict"], "Accepted");
  EXPECT_EQ(status["tests"][1]["verdict"], "WrongAnswer");
  EXPECT_EQ(status["tests"][1]["message"], R"(line 1: expected "EXPECTED-4", got "EXPECTED-5")");
  EXPECT_EQ(status["tests"][2]["verdict"], "Skipped");
  EXPECT_TRUE(events_.Has("judge Warning JudgeVerdict 1/3 passed: WrongAnswer"));
  int verdict_events = 0;
  for (const std::string& e : events_.recorded) verdict_events += e.find("JudgeVerdict") != std::string::npos;
  EXPECT_EQ(verdict_events, 1);
  EXPECT_EQ(metrics_.CounterValue("coderun_test_verdicts_total", {{"verdict", "Accepted"}}), 1);
  EXPECT_EQ(metrics_.CounterValue("coderun_test_verdicts_total", {{"verdict", "WrongAnswer"}}), 1);
  EXPECT_EQ(metrics_.CounterValue("coderun_test_verdicts_total", {{"verdict", "Skipped"}}), 1);
  EXPECT_EQ(metrics_.CounterValue("coderun_runs_finished_total",
                                  {{"phase", "Succeeded"}, {"reason", "Completed"}}),
            1);
  EXPECT_EQ(PodCount(), 0);
}

// A runner that could not run the program makes no verdicts: the run failed, as before.
TEST_F(ReconcilerTest, JudgeRunWhoseRunnerFailedIsPodFailedWithoutVerdicts) {
  CreateRunWithSpec("judge",
                    {{"code", "print(1)"},
                    {"tests", {{{"name", "one"}, {"stdin", ""}, {"expectedStdout", "1\n"}}}}});
  ASSERT_EQ(Reconcile("judge").outcome, "created");
  api::Report report;
  report.runner_error = "tests.json does not match --input-digest";
  api_.SetPodLog("ns", Run("judge").pod_name, api::FormatReport(report));
  Terminate("judge", 1);
  ASSERT_EQ(Reconcile("judge").outcome, "finished");
  json status = (*api_.Get({}, kube::kCodeRuns, "ns", "judge"))["status"];
  EXPECT_EQ(status["phase"], "Failed");
  EXPECT_EQ(status["reason"], "PodFailed");
  EXPECT_FALSE(status.contains("verdict"));
  EXPECT_FALSE(status.contains("tests"));
  EXPECT_FALSE(events_.Has("JudgeVerdict"));
  EXPECT_EQ(metrics_.CounterValue("coderun_test_verdicts_total", {{"verdict", "Skipped"}}), 0);
}

// cgroup v2 nodes: the kubelet sets memory.oom.group=1, so a case that runs out of memory
// takes the runner (and its report) with it. The cases it finished were streamed to the
// log; the run goes on from the case after the killed one in a new Pod.
class ContainerOomTest : public ReconcilerTest {
 protected:
  void CreateFourCases(bool stop_on_first_failure = false) {
    json tests = json::array();
    for (const char* n : {"a", "b", "c", "d"}) {
      tests.push_back({{"name", n}, {"stdin", ""}, {"expectedStdout", absl::AsciiStrToUpper(n) + "\n"}});
    }
    CreateRunWithSpec("judge", {{"code", "print(input())"},
                                {"limits", {{"memory", "64Mi"}}},
                                {"tests", tests},
                                {"stopOnFirstFailure", stop_on_first_failure}});
  }
  static api::CaseReport Case(const std::string& name, const std::string& out) {
    api::CaseReport c;
    c.name = name;
    c.exit_code = 0;
    c.stdout_text = out;
    c.wall_millis = 10;
    c.cpu_millis = 7;
    c.max_rss_bytes = 1000;
    return c;
  }
  // The container was OOM-killed as a whole after the runner wrote these cases' frames (and
  // began another one, cut off).
  void OomKilledAfter(const std::vector<api::CaseReport>& cases) {
    std::string log;
    for (const auto& c : cases) log += api::FormatCase(c);
    log += "coderun-case/v1 512\n{\"name\":\"";  // torn
    api_.SetPodLog("ns", Run("judge").pod_name, log);
    Terminate("judge", 137, "OOMKilled");
  }
  json Status() { return (*api_.Get({}, kube::kCodeRuns, "ns", "judge"))["status"]; }
  json PodArgs() {
    return (*api_.Get({}, kube::kPods, "ns", Run("judge").pod_name))["spec"]["containers"][0]["args"];
  }
  static bool HasArg(const json& args, const std::string& arg) {
    return std::find(args.begin(), args.end(), arg) != args.end();
  }
  int SecretCount() { return static_cast<int>((*api_.List({}, kube::kSecrets, "ns", {}))["items"].size()); }
};

TEST_F(ContainerOomTest, TheRunGoesOnFromTheNextCaseInANewPodAndEveryCaseIsJudgedOnce) {
  CreateFourCases();
  ASSERT_EQ(Reconcile("judge").outcome, "created");
  EXPECT_FALSE(HasArg(PodArgs(), "--first-case=0"));
  const std::string first_pod_uid = Run("judge").pod_uid;
  const std::string first_nonce =
      (*api_.Get({}, kube::kSecrets, "ns", Run("judge").pod_name))["stringData"]["nonce"];

  OomKilledAfter({Case("a", "A\n")});  // b ran out of memory
  ASSERT_EQ(Reconcile("judge").outcome, "continued");
  json st = Status();
  EXPECT_EQ(st["phase"], "Running");
  EXPECT_EQ(st["nextCase"], 2);
  EXPECT_FALSE(st.contains("podName"));
  EXPECT_FALSE(st.contains("podUID"));
  EXPECT_FALSE(st.contains("verdict"));
  EXPECT_EQ(st["passed"], "1/4");
  ASSERT_EQ(st["tests"].size(), 2u);
  EXPECT_EQ(st["tests"][0]["verdict"], "Accepted");
  EXPECT_EQ(st["tests"][1]["verdict"], "MemoryLimitExceeded");
  EXPECT_EQ(st["tests"][1]["usage"]["maxRSSBytes"], 64 << 20);
  EXPECT_NE(st["message"].get<std::string>().find("case b ran out of memory"), std::string::npos);
  EXPECT_NE(st["message"].get<std::string>().find("goes on from case c in a new Pod"), std::string::npos);
  EXPECT_TRUE(events_.Has("judge Warning JudgeContinued case b ran out of memory"));

  // A controller that restarts here knows nothing of the old Pod but that the status no
  // longer records it: the Pod and its Secret go, and it is never read again.
  reconciler_ =
      std::make_unique<Reconciler>(api_, caches_, settings_, uids_, events_, clock_, run_metrics_);
  const int reads = api_.pod_log_reads();
  ASSERT_EQ(Reconcile("judge").outcome, "superseded");
  EXPECT_EQ(PodCount(), 0);
  EXPECT_EQ(SecretCount(), 0);
  EXPECT_EQ(api_.pod_log_reads(), reads);
  ASSERT_EQ(Reconcile("judge").outcome, "created");
  EXPECT_TRUE(HasArg(PodArgs(), "--first-case=2"));
  EXPECT_NE(Run("judge").pod_uid, first_pod_uid);
  EXPECT_NE((*api_.Get({}, kube::kSecrets, "ns", Run("judge").pod_name))["stringData"]["nonce"],
            first_nonce);

  api::Report report;
  report.exit_code = 0;
  report.tests = {Case("c", "C\n"), Case("d", "wrong\n")};
  report.tests[1].max_rss_bytes = 5000;
  api_.SetPodLog("ns", Run("judge").pod_name, api::FormatReport(report));
  Terminate("judge", 0, "OOMKilled");  // containerd keeps the reason once an OOM was seen
  ASSERT_EQ(Reconcile("judge").outcome, "finished");
  for (int i = 0; i < 3; ++i) ASSERT_TRUE(Reconcile("judge").error.ok());
  st = Status();
  EXPECT_EQ(st["phase"], "Succeeded");
  EXPECT_EQ(st["verdict"], "MemoryLimitExceeded");
  EXPECT_EQ(st["message"], "2/4 passed: MemoryLimitExceeded");
  EXPECT_EQ(st["testsPassed"], 2);
  ASSERT_EQ(st["tests"].size(), 4u);
  EXPECT_EQ(st["tests"][0]["verdict"], "Accepted");
  EXPECT_EQ(st["tests"][1]["verdict"], "MemoryLimitExceeded");
  EXPECT_EQ(st["tests"][2]["verdict"], "Accepted");
  EXPECT_EQ(st["tests"][3]["verdict"], "WrongAnswer");
  EXPECT_EQ(st["usage"]["wallMillis"], 30);  // a, c and d; b's time is unknown
  EXPECT_EQ(st["usage"]["maxRSSBytes"], 64 << 20);
  EXPECT_EQ(metrics_.CounterValue("coderun_test_verdicts_total", {{"verdict", "Accepted"}}), 2);
  EXPECT_EQ(metrics_.CounterValue("coderun_test_verdicts_total", {{"verdict", "MemoryLimitExceeded"}}), 1);
  EXPECT_EQ(metrics_.CounterValue("coderun_test_verdicts_total", {{"verdict", "WrongAnswer"}}), 1);
  EXPECT_EQ(PodCount(), 0);
}

TEST_F(ContainerOomTest, TheLastCaseOrStopOnFirstFailureEndsTheRunAtOnce) {
  CreateFourCases(/*stop_on_first_failure=*/true);
  ASSERT_EQ(Reconcile("judge").outcome, "created");
  OomKilledAfter({Case("a", "A\n")});
  ASSERT_EQ(Reconcile("judge").outcome, "finished");
  json st = Status();
  EXPECT_EQ(st["phase"], "Succeeded");
  EXPECT_EQ(st["verdict"], "MemoryLimitExceeded");
  EXPECT_FALSE(st.contains("nextCase"));
  ASSERT_EQ(st["tests"].size(), 4u);
  EXPECT_EQ(st["tests"][2]["verdict"], "Skipped");
  EXPECT_EQ(st["tests"][3]["verdict"], "Skipped");

  CreateRunWithSpec("last", {{"code", "print(1)"},
                             {"tests", {{{"name", "x"}, {"stdin", ""}, {"expectedStdout", "1\n"}},
                                        {{"name", "y"}, {"stdin", ""}, {"expectedStdout", "1\n"}}}}});
  ASSERT_EQ(Reconcile("last").outcome, "created");
  api_.SetPodLog("ns", Run("last").pod_name, api::FormatCase(Case("x", "1\n")));
  Terminate("last", 137, "OOMKilled");
  ASSERT_EQ(Reconcile("last").outcome, "finished");
  st = (*api_.Get({}, kube::kCodeRuns, "ns", "last"))["status"];
  EXPECT_EQ(st["message"],
            "1/2 passed: MemoryLimitExceeded; case y ran out of memory and the kernel stopped the "
            "whole container (memory.oom.group)");
}

// Only the kernel's OOM kill makes the killed case MemoryLimitExceeded: a runner that died
// otherwise (or forged case frames in a log that does not end in a report) gives no verdict.
TEST_F(ContainerOomTest, ARunnerThatDiedOtherwiseGivesNoVerdicts) {
  CreateFourCases();
  ASSERT_EQ(Reconcile("judge").outcome, "created");
  api_.SetPodLog("ns", Run("judge").pod_name, api::FormatCase(Case("a", "A\n")));
  Terminate("judge", 137, "Error");
  ASSERT_EQ(Reconcile("judge").outcome, "finished");
  json st = Status();
  EXPECT_EQ(st["phase"], "Failed");
  EXPECT_EQ(st["reason"], "PodFailed");
  EXPECT_FALSE(st.contains("tests"));
  EXPECT_FALSE(st.contains("nextCase"));
}

// Case frames that are not the spec's next cases are no results of this run.
TEST_F(ContainerOomTest, CaseFramesOfOtherCasesAreNotTaken) {
  CreateFourCases();
  ASSERT_EQ(Reconcile("judge").outcome, "created");
  OomKilledAfter({Case("b", "B\n")});
  ASSERT_EQ(Reconcile("judge").outcome, "finished");
  json st = Status();
  EXPECT_EQ(st["phase"], "Failed");
  EXPECT_EQ(st["reason"], "MemoryLimitExceeded");
  EXPECT_FALSE(st.contains("tests"));
  EXPECT_NE(st["message"].get<std::string>().find("unusable"), std::string::npos);
}

TEST_F(ReconcilerTest, OverMaximaIsInvalidSpecWithoutPod) {
  CreateRun("big", {{"memory", "64Gi"}});
  ASSERT_TRUE(Reconcile("big").error.ok());
  CodeRun run = Run("big");
  EXPECT_EQ(run.phase, "Failed");
  EXPECT_EQ(run.reason, "InvalidSpec");
  EXPECT_NE(run.message.find("spec.limits.memory"), std::string::npos);
  EXPECT_EQ(PodCount(), 0);
  EXPECT_TRUE(events_.Has("big Warning InvalidSpec Failed/InvalidSpec: spec.limits.memory"));
}

TEST_F(ReconcilerTest, PodDeletedBySomeoneElseFailsTheRun) {
  CreateRun("hello");
  ASSERT_TRUE(Reconcile("hello").error.ok());
  api_.Erase(kube::kPods, "ns", Run("hello").pod_name);
  ASSERT_TRUE(Reconcile("hello").error.ok());
  CodeRun run = Run("hello");
  EXPECT_EQ(run.reason, "PodFailed");
  EXPECT_NE(run.message.find("deleted"), std::string::npos);
  EXPECT_EQ(PodCount(), 0) << "no second Pod";
}

TEST_F(ReconcilerTest, StrangerPodWithOurLabelsIsNotTaken) {
  CodeRun before = *DecodeCodeRun(CreateRun("hello"));
  api_.Put(kube::kPods, {{"metadata", {{"name", "impostor"}, {"namespace", "ns"},
                                       {"labels", RunLabels(before)}}}});
  ASSERT_TRUE(Reconcile("hello").error.ok());
  CodeRun run = Run("hello");
  EXPECT_NE(run.pod_name, "impostor");
  EXPECT_TRUE(api_.Get({}, kube::kPods, "ns", run.pod_name).ok());
  EXPECT_TRUE(api_.Get({}, kube::kPods, "ns", "impostor").ok()) << "left alone";
  EXPECT_TRUE(events_.Has("hello Warning ForeignPod Pod impostor"))
      << testing::PrintToString(events_.recorded);
}

// Attack: an `edit` user plants a Pod under the name the controller will use, owned by the
// run, whose container would print a forged report. It is never read: it is deleted and
// the run starts in a Pod the controller created and recorded.
TEST_F(ReconcilerTest, PlantedPodOwnedByTheRunIsNeverRead) {
  CreateRun("victim");
  json impostor = PlantImpostorPod("victim");
  api::Report forged;
  forged.exit_code = 0;
  forged.stdout_text = "FORGED";
  api_.SetPodLog("ns", PodName("victim", Run("victim").uid), api::FormatReport(forged));
  Terminate("victim", 0);

  Result r = Reconcile("victim");
  ASSERT_TRUE(r.error.ok()) << r.error;
  EXPECT_EQ(r.outcome, "replacing");
  EXPECT_EQ(api_.pod_log_reads(), 0);
  EXPECT_FALSE(api_.Get({}, kube::kPods, "ns", PodName("victim", Run("victim").uid)).ok()) << "deleted";
  EXPECT_TRUE(events_.Has("victim Warning ForeignPod Pod " + PodName("victim", Run("victim").uid) +
                          " was not recorded"))
      << testing::PrintToString(events_.recorded);

  ASSERT_EQ(Reconcile("victim").outcome, "created");
  CodeRun run = Run("victim");
  json ours = *api_.Get({}, kube::kPods, "ns", run.pod_name);
  EXPECT_NE(ours["metadata"]["uid"], impostor["metadata"]["uid"]);
  EXPECT_EQ(run.pod_uid, ours["metadata"]["uid"]);
  TerminateWithReport("victim", 3);
  ASSERT_TRUE(Reconcile("victim").error.ok());
  EXPECT_EQ(Run("victim").reason, "NonZeroExit");
  EXPECT_EQ(Run("victim").exit_code, 3);
}

// The same Pod after a controller restart that came between creating it and recording it:
// a new process cannot tell it from a planted one, so it is replaced, never read.
TEST_F(ReconcilerTest, PodWhoseCreationWasNotRecordedIsReplacedAfterARestart) {
  CreateRun("hello");
  ASSERT_EQ(Reconcile("hello").outcome, "created");
  const std::string first_uid = Run("hello").pod_uid;
  ASSERT_FALSE(first_uid.empty());
  // The recorded run is observed normally by a new process (status says which Pod).
  reconciler_ = std::make_unique<Reconciler>(api_, caches_, settings_, uids_, events_, clock_, run_metrics_);
  EXPECT_EQ(Reconcile("hello").outcome, "waiting");
  EXPECT_EQ(Run("hello").pod_uid, first_uid);
  // Lose the record: the status as the creating process left it before its write.
  json run = *api_.Get({}, kube::kCodeRuns, "ns", "hello");
  run["status"].erase("podUID");
  run["status"].erase("podName");
  api_.Put(kube::kCodeRuns, run);
  EXPECT_EQ(Reconcile("hello").outcome, "replacing");
  EXPECT_EQ(PodCount(), 0);
  EXPECT_EQ(Reconcile("hello").outcome, "created");
  EXPECT_NE(Run("hello").pod_uid, first_uid);
}

// The process that created a Pod trusts it even when its status write was lost.
TEST_F(ReconcilerTest, OwnPodIsTrustedWhenItsStatusWriteFailed) {
  CreateRun("hello");
  ASSERT_EQ(Reconcile("hello").outcome, "created");
  json run = *api_.Get({}, kube::kCodeRuns, "ns", "hello");
  const std::string pod_uid = run["status"]["podUID"];
  run["status"].erase("podUID");
  api_.Put(kube::kCodeRuns, run);
  EXPECT_NE(Reconcile("hello").outcome, "replacing");
  EXPECT_EQ(Run("hello").pod_uid, pod_uid) << "recorded on the next write";
}

// Attack: the Pod the run recorded is deleted and a look-alike takes its name.
TEST_F(ReconcilerTest, LookAlikeUnderTheRecordedNameFailsTheRunUnread) {
  CreateRun("victim");
  ASSERT_EQ(Reconcile("victim").outcome, "created");
  api_.Erase(kube::kPods, "ns", Run("victim").pod_name);
  PlantImpostorPod("victim");
  api::Report forged;
  forged.exit_code = 0;
  api_.SetPodLog("ns", Run("victim").pod_name, api::FormatReport(forged));
  Terminate("victim", 0);
  ASSERT_TRUE(Reconcile("victim").error.ok());
  CodeRun run = Run("victim");
  EXPECT_EQ(run.reason, "PodFailed");
  EXPECT_NE(run.message.find("another object took its name"), std::string::npos) << run.message;
  EXPECT_EQ(api_.pod_log_reads(), 0);
}

// Attack: an `edit` user plants the run's Secret with other code before the controller
// creates it. The controller replaces it with the run's own input.
TEST_F(ReconcilerTest, PlantedSecretIsReplacedWithTheRunsInput) {
  CreateRun("victim");
  CodeRun run = Run("victim");
  json planted = {{"apiVersion", "v1"}, {"kind", "Secret"},
                  {"metadata", {{"name", PodName(run.name, run.uid)}, {"namespace", "ns"},
                                {"ownerReferences", {OwnerReference(run)}}}},
                  {"stringData", {{"code", "print('PLANTED')"}}}};
  ASSERT_TRUE(api_.Create({}, kube::kSecrets, "ns", planted).ok());
  ASSERT_EQ(Reconcile("victim").outcome, "created");
  json secret = *api_.Get({}, kube::kSecrets, "ns", PodName(run.name, run.uid));
  EXPECT_EQ(secret["stringData"]["code"], "print(1)");
  EXPECT_TRUE(events_.Has("victim Warning ForeignSecret Secret " + PodName(run.name, run.uid)))
      << testing::PrintToString(events_.recorded);
  const std::string nonce = secret["stringData"]["nonce"];
  json pod = *api_.Get({}, kube::kPods, "ns", PodName(run.name, run.uid));
  EXPECT_EQ(pod["spec"]["containers"][0]["args"].back(),
            "--input-digest=" + api::InputDigest(nonce, "print(1)", "in", "[]"));
}

TEST_F(ReconcilerTest, ArgumentWithNulIsInvalidSpecWithoutPod) {
  CreateRun("nul");
  json run = *api_.Get({}, kube::kCodeRuns, "ns", "nul");
  run["spec"]["args"] = {"ok", std::string("a\0b", 3)};
  api_.Put(kube::kCodeRuns, run);
  ASSERT_TRUE(Reconcile("nul").error.ok());
  EXPECT_EQ(Run("nul").reason, "InvalidSpec");
  EXPECT_NE(Run("nul").message.find("spec.args[1]"), std::string::npos);
  EXPECT_EQ(PodCount(), 0);
  EXPECT_FALSE(api_.Get({}, kube::kSecrets, "ns", Run("nul").pod_name.empty()
                                                  ? PodName("nul", Run("nul").uid)
                                                  : Run("nul").pod_name)
                   .ok());
}

// A CodeRun whose stored size plus the largest status it could get exceeds what the store
// accepts ends InvalidSpec before any Pod, instead of wedging at its last write.
TEST_F(ReconcilerTest, ObjectThatCouldNotHoldItsStatusIsInvalidSpec) {
  CreateRun("huge", {{"outputBytes", 262144}});
  json run = *api_.Get({}, kube::kCodeRuns, "ns", "huge");
  run["spec"]["stdin"] = std::string(180000, '\x01');  // 1,080,000 bytes as stored
  api_.Put(kube::kCodeRuns, run);
  ASSERT_TRUE(Reconcile("huge").error.ok());
  EXPECT_EQ(Run("huge").reason, "InvalidSpec");
  EXPECT_NE(Run("huge").message.find("limits.outputBytes"), std::string::npos);
  EXPECT_EQ(PodCount(), 0);
}

// The final status is refused for size (annotations grew after the run started): a smaller
// terminal status is written and says so; the Pod and Secret go.
TEST_F(ReconcilerTest, TerminalStatusTooLargeToStoreIsWrittenSmaller) {
  CreateRun("big", {{"outputBytes", 262144}});
  ASSERT_EQ(Reconcile("big").outcome, "created");
  api::Report report;
  report.exit_code = 0;
  report.stdout_text = std::string(200000, 'o');
  report.stderr_text = std::string(200000, 'e');
  api_.SetPodLog("ns", Run("big").pod_name, api::FormatReport(report));
  Terminate("big", 0);
  api_.SetMaxObjectBytes(300000);
  Result r = Reconcile("big");
  ASSERT_TRUE(r.error.ok()) << r.error;
  json status = (*api_.Get({}, kube::kCodeRuns, "ns", "big"))["status"];
  EXPECT_EQ(status["phase"], "Succeeded");
  EXPECT_EQ(status["stdout"].get<std::string>().size(), 50000u);
  EXPECT_EQ(status["stdoutTruncated"], true);
  EXPECT_NE(status["message"].get<std::string>().find("size the apiserver can store"),
            std::string::npos);
  EXPECT_EQ(PodCount(), 0);

  // Smaller still: the output goes entirely, then the details.
  CreateRun("bigger", {{"outputBytes", 262144}});
  api_.SetMaxObjectBytes(0);
  ASSERT_EQ(Reconcile("bigger").outcome, "created");
  api_.SetPodLog("ns", Run("bigger").pod_name, api::FormatReport(report));
  Terminate("bigger", 0);
  api_.SetMaxObjectBytes(api_.Get({}, kube::kCodeRuns, "ns", "bigger")->dump().size() + 600);
  ASSERT_TRUE(Reconcile("bigger").error.ok());
  status = (*api_.Get({}, kube::kCodeRuns, "ns", "bigger"))["status"];
  EXPECT_EQ(status["phase"], "Succeeded");
  EXPECT_EQ(status["stdout"], "");
  EXPECT_EQ(status["stdoutTruncated"], true);
  EXPECT_NE(status["message"].get<std::string>().find("output dropped"), std::string::npos);

  // Nothing fits at all: the run's objects still go, and the key is not retried forever.
  CreateRun("stuck");
  api_.SetMaxObjectBytes(0);
  ASSERT_EQ(Reconcile("stuck").outcome, "created");
  TerminateWithReport("stuck", 0);
  api_.SetMaxObjectBytes(1);
  r = Reconcile("stuck");
  ASSERT_TRUE(r.error.ok()) << r.error;
  EXPECT_EQ(r.outcome, "unwritable");
  EXPECT_EQ(PodCount(), 0);
  EXPECT_EQ(Reconcile("stuck").outcome, "noop");
}

TEST_F(ReconcilerTest, ForeignAllowPolicyHoldsRunsUntilRemoved) {
  api_.Put(kube::kNetworkPolicies,
           {{"metadata", {{"name", "allow-all"}, {"namespace", "ns"}}},
            {"spec", {{"podSelector", json::object()}, {"ingress", json::array({json::object()})}}}});
  CreateRun("hello");
  Result r = Reconcile("hello");
  ASSERT_TRUE(r.error.ok());
  EXPECT_EQ(Run("hello").reason, "NetworkPolicyConflict");
  EXPECT_NE(Run("hello").message.find("ns/allow-all"), std::string::npos);
  EXPECT_EQ(PodCount(), 0);
  api_.Erase(kube::kNetworkPolicies, "ns", "allow-all");
  ASSERT_TRUE(Reconcile("hello").error.ok());
  EXPECT_EQ(PodCount(), 1);
}

TEST_F(ReconcilerTest, AlteredOrDeletedPolicyIsRestored) {
  CreateRun("hello");
  ASSERT_TRUE(Reconcile("hello").error.ok());
  json np = *api_.Get({}, kube::kNetworkPolicies, "ns", kNetworkPolicyName);
  np["spec"]["ingress"] = json::array({json::object()});
  api_.Put(kube::kNetworkPolicies, np);
  ASSERT_TRUE(reconciler_->Reconcile(NetworkPolicyKey("ns")).error.ok());
  EXPECT_EQ((*api_.Get({}, kube::kNetworkPolicies, "ns", kNetworkPolicyName))["spec"], DenyAllSpec());
  api_.Erase(kube::kNetworkPolicies, "ns", kNetworkPolicyName);
  ASSERT_TRUE(reconciler_->Reconcile(NetworkPolicyKey("ns")).error.ok());
  EXPECT_TRUE(api_.Get({}, kube::kNetworkPolicies, "ns", kNetworkPolicyName).ok());
}

TEST_F(ReconcilerTest, PolicyOfADeletedOrTerminatingNamespaceIsLeftAlone) {
  api_.SetNamespaceGone("gone", /*terminating=*/false);
  api_.SetNamespaceGone("going", /*terminating=*/true);
  for (const char* ns : {"gone", "going"}) {
    Result r = reconciler_->Reconcile(NetworkPolicyKey(ns));
    EXPECT_TRUE(r.error.ok()) << ns << ": " << r.error;  // not retried with backoff forever
    EXPECT_EQ(r.outcome, "namespace gone") << ns;
  }
}

TEST_F(ReconcilerTest, UnschedulablePodWaitsThenFailsAtThePendingDeadline) {
  CreateRun("hello");
  ASSERT_TRUE(Reconcile("hello").error.ok());
  CodeRun run = Run("hello");
  json pod = *api_.Get({}, kube::kPods, "ns", run.pod_name);
  pod["metadata"]["creationTimestamp"] = Now();
  pod["status"] = {{"phase", "Pending"},
                   {"conditions", {{{"type", "PodScheduled"}, {"status", "False"},
                                    {"reason", "Unschedulable"}, {"message", "Insufficient cpu"}}}}};
  api_.Put(kube::kPods, pod);
  Result r = Reconcile("hello");
  EXPECT_EQ(Run("hello").phase, "Pending");
  EXPECT_EQ(Run("hello").reason, "Unschedulable");
  ASSERT_TRUE(r.requeue_after.has_value());
  clock_.Advance(std::chrono::seconds(61));
  ASSERT_TRUE(Reconcile("hello").error.ok());
  EXPECT_EQ(Run("hello").phase, "Failed");
  EXPECT_EQ(Run("hello").reason, "PodFailed");
  EXPECT_NE(Run("hello").message.find("Insufficient cpu"), std::string::npos);
  EXPECT_EQ(PodCount(), 0);
}

TEST_F(ReconcilerTest, ThePendingDeadlineCountsFromThePodsCreation) {
  CreateRun("hello");
  clock_.Advance(std::chrono::seconds(100));  // queued longer than max_pending_seconds
  ASSERT_TRUE(Reconcile("hello").error.ok());
  json pod = *api_.Get({}, kube::kPods, "ns", Run("hello").pod_name);
  pod["metadata"]["creationTimestamp"] = Now();  // as the apiserver sets it
  pod["status"] = {{"phase", "Pending"}};
  api_.Put(kube::kPods, pod);
  ASSERT_TRUE(Reconcile("hello").error.ok());
  EXPECT_EQ(Run("hello").phase, "Pending");
  clock_.Advance(std::chrono::seconds(59));
  ASSERT_TRUE(Reconcile("hello").error.ok());
  EXPECT_EQ(Run("hello").phase, "Pending");
  clock_.Advance(std::chrono::seconds(2));
  ASSERT_TRUE(Reconcile("hello").error.ok());
  EXPECT_EQ(Run("hello").reason, "PodFailed");
  EXPECT_NE(Run("hello").message.find("did not start within 60 s"), std::string::npos);
}

class AdmittedReconcilerTest : public ReconcilerTest {
 protected:
  void Admit(std::int64_t max_starting, std::int64_t max_queued_seconds = 0) {
    settings_.max_queued_seconds = max_queued_seconds;
    admission_ = std::make_unique<Admission>(
        AdmissionLimits{max_starting, 0, 0},
        [this](const std::string& key) { woken_.push_back(key); }, clock_);
    admission_->Open();
    reconciler_ = std::make_unique<Reconciler>(api_, caches_, settings_, uids_, events_, clock_,
                                               run_metrics_, Context{}, admission_.get());
  }
  // What the Pod informer would tell the queue.
  void PodEvent(const std::string& run) {
    Pod pod = *DecodePod(*api_.Get({}, kube::kPods, "ns", Run(run).pod_name));
    admission_->OnPod(nullptr, &pod);
  }
  int SecretCount() {
    return static_cast<int>((*api_.List({}, kube::kSecrets, "ns", {}))["items"].size());
  }

  std::unique_ptr<Admission> admission_;
  std::vector<std::string> woken_;
};

TEST_F(AdmittedReconcilerTest, AQueuedRunHasNoPodNorSecretAndShowsItsPlace) {
  Admit(1);
  CreateRun("one");
  clock_.Advance(std::chrono::seconds(1));
  CreateRun("two");
  ASSERT_EQ(Reconcile("one").outcome, "created");
  Result r = Reconcile("two");
  ASSERT_TRUE(r.error.ok()) << r.error;
  EXPECT_EQ(r.outcome, "queued");
  CodeRun two = Run("two");
  EXPECT_EQ(two.phase, "Pending");
  EXPECT_EQ(two.reason, "Queued");
  EXPECT_EQ(two.queue_position, 1);
  EXPECT_NE(two.message.find("position 1"), std::string::npos) << two.message;
  EXPECT_TRUE(two.pod_name.empty());
  EXPECT_EQ(PodCount(), 1);
  EXPECT_EQ(SecretCount(), 1);
  ASSERT_TRUE(r.requeue_after.has_value());  // to refresh its place
  EXPECT_EQ(Reconcile("two").outcome, "queued");  // unchanged place: no write

  // one's Pod runs: the slot passes to two, which is woken and starts.
  json pod = *api_.Get({}, kube::kPods, "ns", Run("one").pod_name);
  pod["status"] = {{"phase", "Running"}};
  api_.Put(kube::kPods, pod);
  PodEvent("one");
  EXPECT_EQ(woken_, std::vector<std::string>({"ns/one", "ns/two"}));
  EXPECT_EQ(Reconcile("two").outcome, "created");
  two = Run("two");
  EXPECT_EQ(two.reason, "PodPending");
  EXPECT_FALSE(two.queue_position.has_value());
  EXPECT_EQ(PodCount(), 2);
}

TEST_F(AdmittedReconcilerTest, TheShownPlaceIsWrittenAgainOnlyOnceItHasQuartered) {
  Admit(1);
  CreateRun("one");
  CreateRun("two");
  ASSERT_EQ(Reconcile("one").outcome, "created");
  auto shown = [&](std::int64_t position) {  // as if written when more runs were ahead
    json run = *api_.Get({}, kube::kCodeRuns, "ns", "two");
    run["status"]["queuePosition"] = position;
    api_.Put(kube::kCodeRuns, run);
  };
  ASSERT_EQ(Reconcile("two").outcome, "queued");
  shown(3);  // now 1: not yet a quarter of 3
  EXPECT_EQ(Reconcile("two").outcome, "queued");
  EXPECT_EQ(Run("two").queue_position, 3);
  shown(4);  // now 1: a quarter of 4
  EXPECT_EQ(Reconcile("two").outcome, "queued");
  EXPECT_EQ(Run("two").queue_position, 1);
}

TEST_F(AdmittedReconcilerTest, ARunQueuedPastMaxQueuedSecondsEndsAsQueueTimeout) {
  Admit(1, /*max_queued_seconds=*/100);
  CreateRun("one");
  CreateRun("two");
  ASSERT_EQ(Reconcile("one").outcome, "created");
  Result r = Reconcile("two");
  ASSERT_EQ(r.outcome, "queued");
  ASSERT_TRUE(r.requeue_after.has_value());
  EXPECT_LE(*r.requeue_after, std::chrono::seconds(100));
  clock_.Advance(std::chrono::seconds(100));
  ASSERT_TRUE(Reconcile("two").error.ok());
  CodeRun two = Run("two");
  EXPECT_EQ(two.phase, "Failed");
  EXPECT_EQ(two.reason, "QueueTimeout");
  EXPECT_NE(two.message.find("--max-queued-seconds"), std::string::npos) << two.message;
  EXPECT_FALSE(two.queue_position.has_value());
  EXPECT_EQ(PodCount(), 1);
}

TEST_F(AdmittedReconcilerTest, AFullQuotaHandsTheSlotOnAndWaitsFromTheAdmission) {
  Admit(1);
  CreateRun("one");
  clock_.Advance(std::chrono::seconds(200));  // queued long before it was admitted
  api_.ExceedQuotaOnNextCreate(kube::kSecrets);
  Result r = Reconcile("one");
  ASSERT_TRUE(r.error.ok()) << r.error;
  EXPECT_EQ(Run("one").reason, "QuotaExceeded");  // not failed: the wait counts from now
  EXPECT_EQ(admission_->Counts().starting, 0);    // its slot went back
  EXPECT_EQ(admission_->Counts().queued, 1);
  // While its namespace yields its turn the status keeps the cause.
  r = Reconcile("one");
  EXPECT_EQ(r.outcome, "waiting");
  EXPECT_EQ(Run("one").reason, "QuotaExceeded");
  // Once the pause is over it is admitted again, and its quota has room now.
  clock_.Advance(std::chrono::seconds(6));
  EXPECT_EQ(Reconcile("one").outcome, "created");
}

// Runs labelled with a Kueue queue, with --kueue: the tests play Kueue by writing the
// Workload's status as Kueue's scheduler does.
class KueueReconcilerTest : public AdmittedReconcilerTest {
 protected:
  KueueReconcilerTest() { settings_.kueue = true; }

  json CreateQueuedRun(const std::string& name, const std::string& queue = "lq") {
    json run = CreateRun(name);
    run["metadata"]["labels"] = {{kQueueNameLabel, queue}};
    return api_.Put(kube::kCodeRuns, run);
  }
  json WorkloadOfRun(const std::string& run) {
    CodeRun r = Run(run);
    auto w = api_.Get({}, kWorkloads, "ns", PodName(r.name, r.uid));
    EXPECT_TRUE(w.ok()) << w.status();
    return w.ok() ? *w : json();
  }
  int WorkloadCount() {
    return static_cast<int>((*api_.List({}, kWorkloads, "ns", {}))["items"].size());
  }
  // Kueue's scheduler admits the Workload, assigning `flavor` to cpu and memory.
  void KueueAdmits(const std::string& run, const std::string& flavor = "default-flavor") {
    if (!api_.Get({}, kResourceFlavors, "", flavor).ok()) {
      api_.Put(kResourceFlavors, {{"apiVersion", "kueue.x-k8s.io/v1beta2"},
                                  {"kind", "ResourceFlavor"},
                                  {"metadata", {{"name", flavor}}},
                                  {"spec", json::object()}});
    }
    json w = WorkloadOfRun(run);
    w["status"] = {
        {"conditions",
         {{{"type", "QuotaReserved"}, {"status", "True"}, {"reason", "QuotaReserved"},
           {"message", "Quota reserved in ClusterQueue cq"}, {"lastTransitionTime", Now()}},
          {{"type", "Admitted"}, {"status", "True"}, {"reason", "Admitted"},
           {"message", "The workload is admitted"}, {"lastTransitionTime", Now()}}}},
        {"admission",
         {{"clusterQueue", "cq"},
          {"podSetAssignments",
           {{{"name", "main"}, {"flavors", {{"cpu", flavor}, {"memory", flavor}}}}}}}}};
    api_.Put(kWorkloads, w);
  }
  void KueueEvicts(const std::string& run) {
    json w = WorkloadOfRun(run);
    w["status"]["conditions"].push_back({{"type", "Evicted"}, {"status", "True"},
                                         {"reason", "Preempted"},
                                         {"message", "Preempted to accommodate a workload"},
                                         {"lastTransitionTime", Now()}});
    api_.Put(kWorkloads, w);
  }
  static const json* Condition(const json& w, const std::string& type) {
    for (const json& c : w["status"]["conditions"]) {
      if (c["type"] == type) return &c;
    }
    return nullptr;
  }
};

TEST_F(KueueReconcilerTest, ALabelledRunWaitsForKueueThenStartsInTheFlavorsPlaceAndFinishesItsWorkload) {
  Admit(1);
  api_.Put(kResourceFlavors,
           {{"apiVersion", "kueue.x-k8s.io/v1beta2"},
            {"kind", "ResourceFlavor"},
            {"metadata", {{"name", "spot"}}},
            {"spec",
             {{"nodeLabels", {{"pool", "runs"}}},
              {"tolerations",
               {{{"key", "spot"}, {"operator", "Exists"}, {"effect", "NoSchedule"}}}}}}});
  CreateRun("first");  // unlabelled: takes the controller's only start slot
  ASSERT_EQ(Reconcile("first").outcome, "created");
  CreateQueuedRun("hello");
  Result r = Reconcile("hello");
  ASSERT_TRUE(r.error.ok()) << r.error;
  EXPECT_EQ(r.outcome, "queued");
  CodeRun run = Run("hello");
  EXPECT_EQ(run.phase, "Pending");
  EXPECT_EQ(run.reason, "Queued");
  EXPECT_NE(run.message.find("waiting for Kueue"), std::string::npos) << run.message;
  EXPECT_EQ(PodCount(), 1);    // only first's
  EXPECT_EQ(SecretCount(), 1);
  json w = WorkloadOfRun("hello");
  EXPECT_EQ(w["spec"]["queueName"], "lq");
  EXPECT_EQ(w["metadata"]["ownerReferences"][0]["uid"], run.uid);
  EXPECT_EQ(w["metadata"]["ownerReferences"][0]["controller"], true);
  EXPECT_EQ(w["metadata"]["labels"][kManagedByLabel], kManagedByValue);
  const json& requests = w["spec"]["podSets"][0]["template"]["spec"]["containers"][0]["resources"]["requests"];
  EXPECT_EQ(requests["cpu"], "1");
  EXPECT_EQ(requests["memory"], "268435456");
  EXPECT_TRUE(events_.Has("hello Normal WorkloadCreated"));

  // Idempotent while Kueue has not admitted it: one Workload, no write.
  EXPECT_EQ(Reconcile("hello").outcome, "queued");
  EXPECT_EQ(WorkloadCount(), 1);

  // Kueue admits it: it starts although the controller's own slot is taken, placed as the
  // assigned flavor says.
  KueueAdmits("hello", "spot");
  ASSERT_EQ(Reconcile("hello").outcome, "created");
  json pod = *api_.Get({}, kube::kPods, "ns", Run("hello").pod_name);
  EXPECT_EQ(pod["spec"]["nodeSelector"]["pool"], "runs");
  EXPECT_EQ(pod["spec"]["tolerations"][0]["key"], "spot");
  // What Kueue counted is what the Pod asks for.
  EXPECT_EQ(pod["spec"]["containers"][0]["resources"],
            w["spec"]["podSets"][0]["template"]["spec"]["containers"][0]["resources"]);

  // The run ends: its Workload is Finished (quota back to Kueue), Kueue's conditions kept.
  TerminateWithReport("hello", 0);
  ASSERT_TRUE(Reconcile("hello").error.ok());
  EXPECT_EQ(Run("hello").phase, "Succeeded");
  w = WorkloadOfRun("hello");
  const json* finished = Condition(w, "Finished");
  ASSERT_NE(finished, nullptr) << w.dump();
  EXPECT_EQ((*finished)["status"], "True");
  EXPECT_EQ((*finished)["reason"], "Succeeded");
  EXPECT_NE(Condition(w, "Admitted"), nullptr);
  EXPECT_NE(Condition(w, "QuotaReserved"), nullptr);
  // Again (a restart, a TTL check): no second patch.
  const std::string rv = w["metadata"]["resourceVersion"];
  ASSERT_TRUE(Reconcile("hello").error.ok());
  EXPECT_EQ(WorkloadOfRun("hello")["metadata"]["resourceVersion"], rv);
}

TEST_F(KueueReconcilerTest, WithoutTheFlagTheLabelMeansNothing) {
  settings_.kueue = false;
  Admit(5);
  CreateQueuedRun("hello");
  EXPECT_EQ(Reconcile("hello").outcome, "created");
  EXPECT_EQ(WorkloadCount(), 0);
}

TEST_F(KueueReconcilerTest, EvictedBeforeItsPodTheRunQueuesAgainInANewWorkload) {
  Admit(1);
  CreateQueuedRun("hello");
  ASSERT_EQ(Reconcile("hello").outcome, "queued");
  KueueAdmits("hello");
  KueueEvicts("hello");  // preempted before the controller saw the admission
  const std::string first_uid = WorkloadOfRun("hello")["metadata"]["uid"];
  EXPECT_EQ(Reconcile("hello").outcome, "replacing");
  EXPECT_EQ(PodCount(), 0);
  EXPECT_EQ(WorkloadCount(), 0);
  EXPECT_EQ(Reconcile("hello").outcome, "queued");
  EXPECT_NE(WorkloadOfRun("hello")["metadata"]["uid"], first_uid);
  EXPECT_EQ(PodCount(), 0);
}

TEST_F(KueueReconcilerTest, ADeactivatedWorkloadHoldsItsRunQueuedUntilActivated) {
  Admit(1);
  CreateQueuedRun("hello");
  ASSERT_EQ(Reconcile("hello").outcome, "queued");
  KueueAdmits("hello");
  json w = WorkloadOfRun("hello");
  w["spec"]["active"] = false;  // an admin holds it; Kueue evicts it (Deactivated)
  api_.Put(kWorkloads, w);
  KueueEvicts("hello");
  const std::string uid = WorkloadOfRun("hello")["metadata"]["uid"];
  ASSERT_TRUE(Reconcile("hello").error.ok());
  EXPECT_EQ(PodCount(), 0);
  EXPECT_EQ(WorkloadOfRun("hello")["metadata"]["uid"], uid);  // not replaced
  EXPECT_NE(Run("hello").message.find("deactivated"), std::string::npos) << Run("hello").message;
}

TEST_F(KueueReconcilerTest, EvictedWhileItsPodLivesTheRunFailsAndGivesItsQuotaBack) {
  Admit(1);
  CreateQueuedRun("hello");
  ASSERT_EQ(Reconcile("hello").outcome, "queued");
  KueueAdmits("hello");
  ASSERT_EQ(Reconcile("hello").outcome, "created");
  KueueEvicts("hello");
  ASSERT_TRUE(Reconcile("hello").error.ok());
  CodeRun run = Run("hello");
  EXPECT_EQ(run.phase, "Failed");
  EXPECT_EQ(run.reason, "PodFailed");
  EXPECT_NE(run.message.find("Kueue evicted"), std::string::npos) << run.message;
  EXPECT_EQ(PodCount(), 0);
  const json workload = WorkloadOfRun("hello");
  const json* finished = Condition(workload, "Finished");
  ASSERT_NE(finished, nullptr);
  EXPECT_EQ((*finished)["reason"], "Failed");
  EXPECT_TRUE(events_.Has("hello Warning Evicted"));
}

TEST_F(KueueReconcilerTest, APlantedWorkloadInAnotherQueueOrWithASmallerRequestIsReplaced) {
  Admit(1);
  CreateQueuedRun("hello", "small-team");
  CodeRun run = Run("hello");
  ValidLimits limits{10, 1000, 268435456, 50, 65536};
  // An `edit` user queues the run's Workload in a roomier LocalQueue, and pre-admits it.
  json planted = BuildWorkload(run, WorkloadPodSets(run, limits, settings_));
  planted["spec"]["queueName"] = "big-team";
  ASSERT_TRUE(api_.Create({}, kWorkloads, "ns", planted).ok());
  KueueAdmits("hello");
  EXPECT_EQ(Reconcile("hello").outcome, "replacing");
  EXPECT_EQ(PodCount(), 0);
  EXPECT_TRUE(events_.Has("hello Warning ForeignWorkload"));
  EXPECT_EQ(Reconcile("hello").outcome, "queued");
  EXPECT_EQ(WorkloadOfRun("hello")["spec"]["queueName"], "small-team");

  // The same queue but a smaller request than the run's.
  json w = WorkloadOfRun("hello");
  w["spec"]["podSets"][0]["template"]["spec"]["containers"][0]["resources"]["requests"]["cpu"] = "1m";
  api_.Put(kWorkloads, w);
  KueueAdmits("hello");
  EXPECT_EQ(Reconcile("hello").outcome, "replacing");
  EXPECT_EQ(PodCount(), 0);
}

TEST_F(KueueReconcilerTest, AWorkloadUnderTheRunsNameOwnedByAnotherFailsTheRunUntouched) {
  Admit(1);
  CreateQueuedRun("hello");
  CodeRun run = Run("hello");
  json other = BuildWorkload(run, json::array());
  other["metadata"]["ownerReferences"][0]["uid"] = "someone-else";
  ASSERT_TRUE(api_.Create({}, kWorkloads, "ns", other).ok());
  ASSERT_TRUE(Reconcile("hello").error.ok());
  EXPECT_EQ(Run("hello").phase, "Failed");
  EXPECT_NE(Run("hello").message.find("not owned by this CodeRun"), std::string::npos);
  EXPECT_EQ(WorkloadCount(), 1);  // left alone
  EXPECT_EQ(PodCount(), 0);
}

TEST_F(KueueReconcilerTest, ARunKueueDoesNotAdmitEndsAsQueueTimeoutAndFinishesItsWorkload) {
  Admit(1, /*max_queued_seconds=*/100);
  CreateQueuedRun("hello");
  Result r = Reconcile("hello");
  ASSERT_EQ(r.outcome, "queued");
  ASSERT_TRUE(r.requeue_after.has_value());
  EXPECT_LE(*r.requeue_after, std::chrono::seconds(100));
  clock_.Advance(std::chrono::seconds(100));
  ASSERT_TRUE(Reconcile("hello").error.ok());
  EXPECT_EQ(Run("hello").reason, "QueueTimeout");
  EXPECT_NE(Run("hello").message.find("Kueue had not admitted"), std::string::npos);
  const json workload = WorkloadOfRun("hello");
  const json* finished = Condition(workload, "Finished");
  ASSERT_NE(finished, nullptr);
  EXPECT_EQ((*finished)["reason"], "Failed");
}

TEST_F(ReconcilerTest, FinishedRunIsDeletedAfterItsTtl) {
  CreateRun("hello");
  json run = *api_.Get({}, kube::kCodeRuns, "ns", "hello");
  run["spec"]["ttlSecondsAfterFinished"] = 5;
  api_.Put(kube::kCodeRuns, run);
  ASSERT_TRUE(Reconcile("hello").error.ok());
  Terminate("hello", 0);
  Result r = Reconcile("hello");
  ASSERT_TRUE(r.requeue_after.has_value());
  EXPECT_EQ(*r.requeue_after, std::chrono::seconds(5));
  clock_.Advance(std::chrono::seconds(3));
  r = Reconcile("hello");
  EXPECT_EQ(r.outcome, "ttl");
  EXPECT_TRUE(api_.Get({}, kube::kCodeRuns, "ns", "hello").ok());
  clock_.Advance(std::chrono::seconds(3));
  EXPECT_EQ(Reconcile("hello").outcome, "expired");
  EXPECT_FALSE(api_.Get({}, kube::kCodeRuns, "ns", "hello").ok());
}

TEST_F(ReconcilerTest, RunUidsAreUniqueAcrossLiveRuns) {
  std::set<std::int64_t> uids;
  for (int i = 0; i < 5; ++i) {
    std::string name = "run" + std::to_string(i);
    CreateRun(name);
    ASSERT_TRUE(Reconcile(name).error.ok());
    json pod = *api_.Get({}, kube::kPods, "ns", Run(name).pod_name);
    uids.insert(pod["spec"]["securityContext"]["runAsUser"].get<std::int64_t>());
  }
  EXPECT_EQ(uids.size(), 5u);
}

}  // namespace
}  // namespace coderun::reconcile

namespace coderun::reconcile {
namespace {

// Warm pools (docs/warm-pools.md) against the in-memory API: the pool keeps its warm Pods,
// a matching run claims one and gets its request on the Pod's stdin (recorded by the fake),
// and finishes from the Pod's report.
class WarmPoolTest : public ReconcilerTest {
 protected:
  WarmPoolTest() {
    settings_.warm_pools = true;
    caches_.pool = [this](const std::string& key) -> std::shared_ptr<const Pool> {
      auto [ns, name] = Split(key);
      auto obj = api_.Get({}, kCodeRunPools, ns, name);
      if (!obj.ok()) return nullptr;
      return std::make_shared<Pool>(*DecodePool(*obj));
    };
    caches_.pools = [this](const std::string& ns) {
      std::vector<std::shared_ptr<const Pool>> out;
      auto list = api_.List({}, kCodeRunPools, ns, {});  // alive for the loop
      for (const auto& item : (*list)["items"]) {
        out.push_back(std::make_shared<Pool>(*DecodePool(item)));
      }
      return out;
    };
    caches_.pool_pods = [this](const std::string& pool_uid) {
      std::vector<std::shared_ptr<const Pod>> out;
      auto list = api_.List({}, kube::kPods, "ns", {});  // alive for the loop
      for (const auto& item : (*list)["items"]) {
        Pod pod = *DecodePod(item);
        if (pod.controller_kind == "CodeRunPool" && pod.controller_uid == pool_uid) {
          out.push_back(std::make_shared<Pod>(pod));
        }
      }
      return out;
    };
    Restart();
  }
  void Restart() {
    reconciler_ = std::make_unique<Reconciler>(api_, caches_, settings_, uids_, events_, clock_,
                                               run_metrics_);
  }
  void CreatePool(std::int64_t size, json limits = json::object()) {
    api_.Put(kCodeRunPools, {{"apiVersion", "coderun.dev/v1alpha1"},
                             {"kind", "CodeRunPool"},
                             {"metadata", {{"name", "warm"}, {"namespace", "ns"}, {"generation", 1}}},
                             {"spec", {{"size", size}, {"limits", limits}}}});
  }
  Pool GetPool() { return *DecodePool(*api_.Get({}, kCodeRunPools, "ns", "warm")); }
  // Plays the kubelet: every Pending warm Pod starts running.
  void StartWarmPods() {
    auto list = api_.List({}, kube::kPods, "ns", {});  // alive for the loop
    for (auto item : (*list)["items"]) {
      if (!item["metadata"]["labels"].contains(kPoolLabel)) continue;
      if (item.contains("status") && item["status"].contains("containerStatuses")) continue;
      item["status"] = {{"phase", "Running"},
                        {"containerStatuses",
                         {{{"name", "runner"}, {"state", {{"running", {{"startedAt", Now()}}}}}}}}};
      api_.Put(kube::kPods, item);
    }
  }
  int WarmPodCount() {
    int n = 0;
    auto list = api_.List({}, kube::kPods, "ns", {});  // alive for the loop
    for (const auto& item : (*list)["items"]) {
      n += item["metadata"]["labels"].contains(kPoolLabel);
    }
    return n;
  }
  // Plays the kubelet for a warm Pod: its runner reported `report`, then ended.
  void EndWarmPod(const std::string& pod_name, const api::Report& report) {
    api_.SetPodLog("ns", pod_name, api::FormatReport(report));
    json pod = *api_.Get({}, kube::kPods, "ns", pod_name);
    pod["status"] = {{"phase", "Succeeded"},
                     {"containerStatuses",
                      {{{"name", "runner"},
                        {"state", {{"terminated", {{"exitCode", 0}, {"reason", "Completed"}}}}}}}}};
    api_.Put(kube::kPods, pod);
  }
  json Status(const std::string& run) { return (*api_.Get({}, kube::kCodeRuns, "ns", run))["status"]; }
};

TEST_F(WarmPoolTest, ARunClaimsAWarmPodGetsItsRequestOnStdinAndThePoolRefills) {
  CreatePool(2);
  ASSERT_TRUE(reconciler_->Reconcile(PoolKey("ns", "warm")).error.ok());
  EXPECT_EQ(WarmPodCount(), 2);
  EXPECT_EQ(GetPool().pods.size(), 2u);
  StartWarmPods();
  ASSERT_TRUE(reconciler_->Reconcile(PoolKey("ns", "warm")).error.ok());
  EXPECT_EQ(GetPool().ready, 2);

  CreateRunWithSpec("fast", {{"code", "print(input())"}, {"stdin", "hello"}, {"args", {"a", "b"}}});
  ASSERT_EQ(Reconcile("fast").outcome, "claimed");
  json st = Status("fast");
  EXPECT_EQ(st["phase"], "Running");
  EXPECT_EQ(st["warmPool"], "warm");
  const std::string pod_name = st["podName"];
  EXPECT_NE(pod_name, PodName("fast", Run("fast").uid));
  EXPECT_EQ(PodCount(), 2);  // no cold Pod, no Secret
  EXPECT_EQ((*api_.List({}, kube::kSecrets, "ns", {}))["items"].size(), 0u);
  bool claimed = false;
  for (const PoolPod& e : GetPool().pods) claimed |= e.name == pod_name && e.claimed_by == "fast";
  EXPECT_TRUE(claimed);
  // The request: exactly one delivery, to that Pod's runner, whose digest the status holds.
  const auto calls = api_.attach_calls();
  ASSERT_EQ(calls.size(), 1u);
  const auto& sent = calls[0];
  EXPECT_EQ(sent.pod, pod_name);
  EXPECT_EQ(sent.container, "runner");
  std::string error;
  auto request = api::ParseRequest(sent.data, &error);
  ASSERT_TRUE(request) << error;
  EXPECT_EQ(request->code, "print(input())");
  EXPECT_EQ(request->stdin_data, "hello");
  EXPECT_EQ(request->args, (std::vector<std::string>{"a", "b"}));
  EXPECT_EQ(st["inputDigest"], api::RequestDigest(*request));

  api::Report report;
  report.exit_code = 0;
  report.stdout_text = "hello\n";
  report.input_digest = api::RequestDigest(*request);
  EndWarmPod(pod_name, report);
  ASSERT_EQ(Reconcile("fast").outcome, "finished");
  st = Status("fast");
  EXPECT_EQ(st["phase"], "Succeeded");
  EXPECT_EQ(st["stdout"], "hello\n");
  ASSERT_TRUE(Reconcile("fast").error.ok());  // cleanup
  EXPECT_FALSE(api_.Get({}, kube::kPods, "ns", pod_name).ok());
  ASSERT_TRUE(reconciler_->Reconcile(PoolKey("ns", "warm")).error.ok());
  EXPECT_EQ(WarmPodCount(), 2);  // refilled
  for (const PoolPod& e : GetPool().pods) EXPECT_NE(e.name, pod_name);
  EXPECT_EQ(metrics_.CounterValue("coderun_pool_claims_total", {{"result", "hit"}}), 1);
}

TEST_F(WarmPoolTest, ARunWithOtherLimitsOrNoReadyPodRunsCold) {
  CreatePool(1);
  ASSERT_TRUE(reconciler_->Reconcile(PoolKey("ns", "warm")).error.ok());
  CreateRun("early");  // the warm Pod is not running yet
  ASSERT_EQ(Reconcile("early").outcome, "created");
  EXPECT_EQ(Status("early")["podName"], PodName("early", Run("early").uid));
  EXPECT_EQ(metrics_.CounterValue("coderun_pool_claims_total", {{"result", "miss"}}), 1);
  StartWarmPods();
  CreateRun("big", {{"memory", "512Mi"}});
  ASSERT_EQ(Reconcile("big").outcome, "created");
  EXPECT_TRUE(api_.attach_calls().empty());
}

// An `edit` user can create a Pod with the pool's labels and ownerReference; it is not in
// the ledger, so no run is ever given to it, and the pool deletes it.
TEST_F(WarmPoolTest, ALookAlikeWarmPodIsNeverClaimedAndIsDeleted) {
  CreatePool(0);
  ASSERT_TRUE(reconciler_->Reconcile(PoolKey("ns", "warm")).error.ok());
  Pool pool = GetPool();
  ValidLimits limits = std::get<ValidLimits>(ValidatePool(pool, settings_));
  json fake = BuildWarmPod(pool, limits, settings_, "warm-attacker", 300009);
  fake["metadata"]["creationTimestamp"] = FormatTime(
      std::chrono::duration_cast<std::chrono::seconds>(clock_.WallNow().time_since_epoch()).count() -
      120);
  ASSERT_TRUE(api_.Create({}, kube::kPods, "ns", fake).ok());
  StartWarmPods();
  CreateRun("victim");
  ASSERT_EQ(Reconcile("victim").outcome, "created");  // cold
  EXPECT_TRUE(api_.attach_calls().empty());
  ASSERT_TRUE(reconciler_->Reconcile(PoolKey("ns", "warm")).error.ok());
  EXPECT_FALSE(api_.Get({}, kube::kPods, "ns", "warm-attacker").ok());
  EXPECT_TRUE(events_.Has("warm Warning ForeignPod Pod warm-attacker"));
}

// Someone else attached first and delivered their own program: the report carries that
// request's digest, not the one the controller sent, and is not taken.
TEST_F(WarmPoolTest, AReportForAnotherRequestIsNotTheRunsResult) {
  CreatePool(1);
  ASSERT_TRUE(reconciler_->Reconcile(PoolKey("ns", "warm")).error.ok());
  StartWarmPods();
  CreateRun("victim");
  ASSERT_EQ(Reconcile("victim").outcome, "claimed");
  api::Report forged;
  forged.exit_code = 0;
  forged.stdout_text = "all tests passed\n";
  forged.input_digest = std::string(64, 'f');
  EndWarmPod(Status("victim")["podName"], forged);
  ASSERT_EQ(Reconcile("victim").outcome, "finished");
  json st = Status("victim");
  EXPECT_EQ(st["phase"], "Failed");
  EXPECT_EQ(st["reason"], "PodFailed");
  EXPECT_NE(st["message"].get<std::string>().find("another request"), std::string::npos);
  EXPECT_FALSE(st.contains("stdout") && st["stdout"] == "all tests passed\n");
}

// A controller that stops after recording the claim but before the delivery is confirmed
// cannot know whether the request arrived: the Pod goes unread and the run starts cold.
TEST_F(WarmPoolTest, AClaimWhoseDeliveryWasNotConfirmedIsGivenUpAndTheRunStartsCold) {
  CreatePool(1);
  ASSERT_TRUE(reconciler_->Reconcile(PoolKey("ns", "warm")).error.ok());
  StartWarmPods();
  CreateRun("r");
  ASSERT_EQ(Reconcile("r").outcome, "claimed");
  // Roll the status back to the record written before the delivery.
  json obj = *api_.Get({}, kube::kCodeRuns, "ns", "r");
  obj["status"]["phase"] = "Pending";
  obj["status"]["reason"] = "PodPending";
  api_.Put(kube::kCodeRuns, obj);
  const std::string warm_pod = obj["status"]["podName"];
  Restart();
  ASSERT_EQ(Reconcile("r").outcome, "abandoned");
  EXPECT_FALSE(api_.Get({}, kube::kPods, "ns", warm_pod).ok());
  ASSERT_EQ(Reconcile("r").outcome, "created");
  json st = Status("r");
  EXPECT_EQ(st["podName"], PodName("r", Run("r").uid));
  EXPECT_EQ(st["warmPool"], "warm");  // never claims again
  EXPECT_EQ(api_.attach_calls().size(), 1u);
}

// The claim reached the ledger but the run's status write was lost: the run takes that
// same Pod (the ledger gives it no other, and no other run can have it).
TEST_F(WarmPoolTest, ALedgerClaimWithoutTheRunsRecordIsTakenUpByThatRun) {
  CreatePool(2);
  ASSERT_TRUE(reconciler_->Reconcile(PoolKey("ns", "warm")).error.ok());
  StartWarmPods();
  ASSERT_TRUE(reconciler_->Reconcile(PoolKey("ns", "warm")).error.ok());
  CreateRun("r");
  Pool pool = GetPool();
  std::vector<PoolPod> ledger = pool.pods;
  ledger[1].claimed_by = "r";
  ledger[1].claimed_by_uid = Run("r").uid;
  ASSERT_TRUE(api_.MergePatch({}, kCodeRunPools, "ns", "warm",
                              PoolStatusPatch(pool, ledger, 1, 0, Now()), "status")
                  .ok());
  Restart();
  ASSERT_EQ(Reconcile("r").outcome, "claimed");
  EXPECT_EQ(Status("r")["podName"], ledger[1].name);
  ASSERT_EQ(api_.attach_calls().size(), 1u);
  EXPECT_EQ(api_.attach_calls()[0].pod, ledger[1].name);
}

}  // namespace
}  // namespace coderun::reconcile
