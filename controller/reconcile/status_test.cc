#include "reconcile/status.h"

#include <regex>

#include <gtest/gtest.h>

namespace coderun::reconcile {
namespace {

using kube::json;

Pod PodIn(std::string phase) {
  Pod pod;
  pod.name = "run-abc";
  pod.phase = std::move(phase);
  return pod;
}

Pod Terminated(int exit_code, std::string reason = "", int signal = 0) {
  Pod pod = PodIn(exit_code == 0 ? "Succeeded" : "Failed");
  pod.terminated = ContainerTerminated{exit_code, signal, std::move(reason), "", "2026-01-01T00:00:00Z", ""};
  return pod;
}

TEST(ObservePodTest, PendingPodsWaitWithTheirCause) {
  RunStatus st = ObservePod(PodIn("Pending"), 40);
  EXPECT_EQ(st.phase, "Pending");
  EXPECT_EQ(st.reason, "PodPending");
  Pod unschedulable = PodIn("Pending");
  unschedulable.has_unschedulable = true;
  unschedulable.unschedulable_message = "0/1 nodes are available: Insufficient cpu";
  st = ObservePod(unschedulable, 40);
  EXPECT_EQ(st.phase, "Pending");
  EXPECT_EQ(st.reason, "Unschedulable");
  EXPECT_NE(st.message.find("Insufficient cpu"), std::string::npos);
}

TEST(ObservePodTest, RunningCarriesStartTime) {
  Pod pod = PodIn("Running");
  pod.running = true;
  pod.running_started_at = "2026-01-01T00:00:01Z";
  RunStatus st = ObservePod(pod, 40);
  EXPECT_EQ(st.phase, "Running");
  EXPECT_EQ(st.start_time, "2026-01-01T00:00:01Z");
  EXPECT_FALSE(st.Terminal());
}

TEST(ObservePodTest, ExitCodesAndSignals) {
  RunStatus ok = ObservePod(Terminated(0), 40);
  EXPECT_EQ(ok.phase, "Succeeded");
  EXPECT_EQ(ok.reason, "Completed");
  EXPECT_EQ(ok.exit_code, 0);
  RunStatus fail = ObservePod(Terminated(1), 40);
  EXPECT_EQ(fail.phase, "Failed");
  EXPECT_EQ(fail.reason, "NonZeroExit");
  EXPECT_EQ(fail.exit_code, 1);
  RunStatus oom = ObservePod(Terminated(137, "OOMKilled"), 40);
  EXPECT_EQ(oom.reason, "MemoryLimitExceeded");
  RunStatus killed = ObservePod(Terminated(137, "Error"), 40);
  EXPECT_EQ(killed.reason, "Killed");
  EXPECT_EQ(killed.signal, 9);
  RunStatus sig = ObservePod(Terminated(0, "Error", 15), 40);
  EXPECT_EQ(sig.reason, "Killed");
  EXPECT_EQ(sig.signal, 15);
}

TEST(ObservePodTest, PlatformFailuresArePodFailedWithTheCause) {
  Pod deadline = PodIn("Failed");
  deadline.reason = "DeadlineExceeded";
  RunStatus st = ObservePod(deadline, 40);
  EXPECT_EQ(st.reason, "PodFailed");
  EXPECT_NE(st.message.find("deadline"), std::string::npos);
  EXPECT_NE(st.message.find("40"), std::string::npos);

  Pod evicted = PodIn("Failed");
  evicted.reason = "Evicted";
  evicted.message = "The node was low on resource: memory.";
  st = ObservePod(evicted, 40);
  EXPECT_EQ(st.reason, "PodFailed");
  EXPECT_NE(st.message.find("evicted"), std::string::npos);

  Pod image = PodIn("Pending");
  image.waiting = ContainerWaiting{"ErrImageNeverPull", "image not present"};
  st = ObservePod(image, 40);
  EXPECT_EQ(st.phase, "Failed");
  EXPECT_NE(st.message.find("ErrImageNeverPull"), std::string::npos);

  Pod deleted = PodIn("Running");
  deleted.deleting = true;
  st = ObservePod(deleted, 40);
  EXPECT_EQ(st.reason, "PodFailed");
  EXPECT_NE(st.message.find("deleted"), std::string::npos);
}

TEST(StatusPatchTest, TerminalStatusStampsCompletionAndFinishedCondition) {
  CodeRun run;
  run.generation = 1;
  run.resource_version = "42";
  run.finished_condition_status = "False";
  run.finished_condition_time = *ParseTime("2026-01-01T00:00:00Z");
  RunStatus st = ObservePod(Terminated(0), 40);
  auto patch = StatusPatch(run, st, "2026-01-01T00:00:09Z");
  EXPECT_EQ(patch["metadata"]["resourceVersion"], "42");
  EXPECT_EQ(patch["status"]["completionTime"], "2026-01-01T00:00:09Z");
  EXPECT_EQ(patch["status"]["observedGeneration"], 1);
  const auto& cond = patch["status"]["conditions"][0];
  EXPECT_EQ(cond["type"], "Finished");
  EXPECT_EQ(cond["status"], "True");
  EXPECT_EQ(cond["lastTransitionTime"], "2026-01-01T00:00:09Z");

  RunStatus pending = PendingStatus("PodPending", "waiting");
  auto p2 = StatusPatch(run, pending, "2026-01-01T00:00:09Z");
  EXPECT_FALSE(p2["status"].contains("completionTime"));
  EXPECT_EQ(p2["status"]["conditions"][0]["lastTransitionTime"], "2026-01-01T00:00:00Z");
}

// kstatus' rules for a custom resource (sigs.k8s.io/cli-utils/pkg/kstatus/status, the
// generic checks every type gets): a stale observedGeneration or Reconciling=True is
// InProgress, Stalled=True is Failed, anything else Current.
std::string Kstatus(const json& object) {
  const json& meta = object["metadata"];
  const json& status = object["status"];
  if (meta.contains("deletionTimestamp")) return "Terminating";
  if (status.contains("observedGeneration") &&
      status["observedGeneration"] != meta.value("generation", 0)) {
    return "InProgress";
  }
  auto is_true = [&](const char* type) {
    for (const json& c : status.value("conditions", json::array())) {
      if (c["type"] == type && c["status"] == "True") return true;
    }
    return false;
  };
  if (is_true("Reconciling")) return "InProgress";
  if (is_true("Stalled")) return "Failed";
  return "Current";
}

// The object as it reads after `patch` (a merge patch: conditions replace the old list).
json Applied(json object, const json& patch) {
  object.merge_patch(patch);
  return object;
}

TEST(StatusPatchTest, ConditionsReadAsKstatusExpects) {
  CodeRun run;
  run.generation = 3;
  run.finished_condition_status = "False";
  run.finished_condition_time = *ParseTime("2026-01-01T00:00:00Z");
  const json object = {{"metadata", {{"name", "r"}, {"generation", 3}}}, {"status", json::object()}};
  const std::string now = "2026-01-01T00:00:09Z";
  EXPECT_EQ(Kstatus(Applied(object, StatusPatch(run, PendingStatus("Queued", "3rd"), now))),
            "InProgress");
  RunStatus running = PendingStatus("Running", "");
  running.phase = "Running";
  EXPECT_EQ(Kstatus(Applied(object, StatusPatch(run, running, now))), "InProgress");
  const json pending = Applied(object, StatusPatch(run, PendingStatus("PodPending", "x"), now));
  const json done = Applied(pending, StatusPatch(run, ObservePod(Terminated(0), 40), now));
  EXPECT_EQ(Kstatus(done), "Current");
  EXPECT_EQ(done["status"]["conditions"].size(), 1u);  // Reconciling went with the list
  const json failed = Applied(pending, StatusPatch(run, FailedStatus("PodFailed", "evicted", ""), now));
  EXPECT_EQ(Kstatus(failed), "Failed");
  json stale = done;
  stale["metadata"]["generation"] = 4;
  EXPECT_EQ(Kstatus(stale), "InProgress");

  // Every condition has the metav1.Condition fields, a reason matching its pattern and the
  // same transition time as Finished.
  const std::regex reason("^[A-Za-z]([A-Za-z0-9_,:]*[A-Za-z0-9_])?$");
  for (const json* o : {&pending, &done, &failed}) {
    const json& conditions = (*o)["status"]["conditions"];
    for (const json& c : conditions) {
      for (const char* field : {"type", "status", "reason", "message", "lastTransitionTime",
                                "observedGeneration"}) {
        EXPECT_TRUE(c.contains(field)) << field << " in " << c.dump();
      }
      EXPECT_TRUE(std::regex_match(c["reason"].get<std::string>(), reason)) << c.dump();
      EXPECT_EQ(c["observedGeneration"], 3);
      EXPECT_EQ(c["lastTransitionTime"], conditions[0]["lastTransitionTime"]);
    }
  }
}

TEST(StatusPatchTest, AReasonThatIsNoConditionReasonGivesThePhaseToTheConditions) {
  EXPECT_TRUE(IsConditionReason("ErrImagePull"));
  EXPECT_TRUE(IsConditionReason("A_b:c,d9"));
  for (const char* bad : {"", "9Lives", "Back off", "Trailing:", "dash-ed"}) {
    EXPECT_FALSE(IsConditionReason(bad)) << bad;
  }
  CodeRun run;
  run.generation = 1;
  json patch = StatusPatch(run, PendingStatus("Back off", "x"), "2026-01-01T00:00:09Z");
  EXPECT_EQ(patch["status"]["reason"], "Back off");  // the run's own reason is kept
  for (const json& c : patch["status"]["conditions"]) EXPECT_EQ(c["reason"], "Pending");
}

// A judge run that goes on in a new Pod keeps its judged cases in status.tests and reads
// them back when it ends: what StatusPatch wrote, ParseCaseStatus returns.
TEST(StatusPatchTest, JudgedCasesReadBackAsWrittenAndAContinuationDropsThePod) {
  CodeRun run;
  run.generation = 1;
  run.pod_name = "p";
  run.pod_uid = "u";
  RunStatus going;
  going.phase = api::kPhaseRunning;
  going.reason = api::kReasonRunning;
  going.next_case = 2;
  JudgeStatus j;
  j.total = 4;
  j.passed = 1;
  CaseStatus ok{"a", "Accepted", "", 0, std::nullopt,
                RunOutput{"A\n\"<&>\"", "warn", false, true, 10, 7, 1000}};
  CaseStatus oom{"b", "MemoryLimitExceeded", "ran out of memory", std::nullopt, 9,
                 RunOutput{"", "", false, false, 0, 0, 67108864}};
  j.cases = {ok, oom};
  going.judge = j;
  const json patch = StatusPatch(run, going, "2026-12-03T10:00:00Z");
  const json& st = patch["status"];
  EXPECT_EQ(st["nextCase"], 2);
  EXPECT_TRUE(st["podName"].is_null());  // merge patch: removed
  EXPECT_TRUE(st["podUID"].is_null());
  EXPECT_FALSE(st.contains("verdict"));  // not decided yet
  EXPECT_EQ(st["passed"], "1/4");
  ASSERT_EQ(st["tests"].size(), 2u);
  for (size_t i = 0; i < 2; ++i) {
    auto back = ParseCaseStatus(json::parse(st["tests"][i].dump()));
    ASSERT_TRUE(back.ok()) << back.status();
    const CaseStatus& want = j.cases[i];
    EXPECT_EQ(back->name, want.name);
    EXPECT_EQ(back->verdict, want.verdict);
    EXPECT_EQ(back->message, want.message);
    EXPECT_EQ(back->exit_code, want.exit_code);
    EXPECT_EQ(back->signal, want.signal);
    ASSERT_TRUE(back->output.has_value());
    EXPECT_EQ(back->output->stdout_text, want.output->stdout_text);
    EXPECT_EQ(back->output->stderr_text, want.output->stderr_text);
    EXPECT_EQ(back->output->stdout_truncated, want.output->stdout_truncated);
    EXPECT_EQ(back->output->stderr_truncated, want.output->stderr_truncated);
    EXPECT_EQ(back->output->wall_millis, want.output->wall_millis);
    EXPECT_EQ(back->output->cpu_millis, want.output->cpu_millis);
    EXPECT_EQ(back->output->max_rss_bytes, want.output->max_rss_bytes);
  }
  EXPECT_FALSE(ParseCaseStatus(json{{"name", "a"}, {"verdict", "Maybe"}}).ok());
  EXPECT_FALSE(ParseCaseStatus(json{{"verdict", "Accepted"}}).ok());
  EXPECT_FALSE(ParseCaseStatus(json::array()).ok());
  EXPECT_TRUE(StatusDiffers(run, going));
}

TEST(StatusTest, DiffersOnlyWhenSomethingChanges) {
  CodeRun run;
  run.phase = "Pending";
  run.reason = "PodPending";
  run.message = "waiting";
  run.generation = run.observed_generation = 1;
  run.finished_condition_status = "False";
  EXPECT_FALSE(StatusDiffers(run, PendingStatus("PodPending", "waiting")));
  EXPECT_TRUE(StatusDiffers(run, PendingStatus("Unschedulable", "waiting")));
}

TEST(TimeTest, RoundTrips) {
  EXPECT_EQ(FormatTime(0), "1970-01-01T00:00:00Z");
  EXPECT_EQ(ParseTime("2026-11-26T06:37:52Z"), 1795675072);
  EXPECT_EQ(ParseTime(FormatTime(1795675072)), 1795675072);
  EXPECT_FALSE(ParseTime("yesterday").has_value());
}

}  // namespace
}  // namespace coderun::reconcile

namespace coderun::reconcile {
namespace {

RunStatus Reported(void (*edit)(api::Report&)) {
  api::Report r;
  r.exit_code = 0;
  edit(r);
  Pod pod;
  pod.name = "p";
  return FromReport(pod, r, 65536);
}

TEST(FromReportTest, MapsEveryOutcome) {
  EXPECT_EQ(Reported([](api::Report&) {}).reason, "Completed");
  EXPECT_EQ(Reported([](api::Report& r) { r.exit_code = 3; }).reason, "NonZeroExit");
  EXPECT_EQ(Reported([](api::Report& r) { r.exit_code = 3; }).exit_code, 3);
  RunStatus killed = Reported([](api::Report& r) { r.exit_code = -1; r.signal = 11; });
  EXPECT_EQ(killed.reason, "Killed");
  EXPECT_EQ(killed.signal, 11);
  EXPECT_FALSE(killed.exit_code.has_value());
  EXPECT_EQ(Reported([](api::Report& r) { r.limit = api::Limit::kTime; }).reason,
            "TimeLimitExceeded");
  EXPECT_EQ(Reported([](api::Report& r) { r.limit = api::Limit::kMemory; }).reason,
            "MemoryLimitExceeded");
  EXPECT_EQ(Reported([](api::Report& r) { r.limit = api::Limit::kTerminated; }).reason,
            "PodFailed");
  RunStatus broken = Reported([](api::Report& r) { r.runner_error = "no python3"; });
  EXPECT_EQ(broken.reason, "PodFailed");
  EXPECT_NE(broken.message.find("no python3"), std::string::npos);
}

}  // namespace
}  // namespace coderun::reconcile
