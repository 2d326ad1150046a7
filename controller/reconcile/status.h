// From a run Pod's state to the CodeRun's status, and the status patch itself.
#pragma once

#include <cstdint>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "absl/status/statusor.h"
#include "api/coderun.h"
#include "api/report.h"
#include "kube/client.h"
#include "reconcile/types.h"

namespace coderun::reconcile {

// What the runner's report adds to a terminal status.
struct RunOutput {
  std::string stdout_text, stderr_text;
  bool stdout_truncated = false, stderr_truncated = false;
  std::uint64_t wall_millis = 0, cpu_millis = 0, max_rss_bytes = 0;
};

// One test case of a judge run as status.tests[] shows it.
struct CaseStatus {
  std::string name;
  std::string verdict;  // judge::VerdictName
  std::string message;  // why (WrongAnswer: where the output first differs); "" if Accepted
  std::optional<std::int32_t> exit_code;
  std::optional<std::int32_t> signal;
  std::optional<RunOutput> output;  // streams (cut to the case's share) and usage; absent if not run
};

// A judge run's results (docs/judge-mode.md): status.verdict, testsPassed, testsTotal,
// passed ("3/5", the PASSED printer column) and tests.
struct JudgeStatus {
  std::string verdict;  // judge::OverallVerdict's name; "" while the run goes on (nextCase)
  std::int64_t passed = 0;
  std::int64_t total = 0;
  std::vector<CaseStatus> cases;  // one per spec case, in spec order
};

// The status the controller wants a CodeRun to have.
struct RunStatus {
  std::string phase, reason, message;
  std::string pod_name;
  std::string pod_uid;     // the created Pod's metadata.uid; "" = leave as is
  std::string start_time;  // RFC 3339; "" = leave as is
  std::optional<std::int32_t> exit_code;
  std::optional<std::int32_t> signal;
  std::optional<RunOutput> output;
  std::optional<JudgeStatus> judge;  // a judge run whose runner reported
  std::optional<std::int64_t> queue_position;  // only while Queued; absent removes it
  // A judge run going on in a new Pod from this case (status.nextCase); podName and podUID
  // are removed with it, since the next Pod is not created yet.
  std::optional<std::int64_t> next_case;
  // Removes podName and podUID (set with next_case, and when a warm claim is abandoned).
  bool clear_pod = false;
  std::string warm_pool;     // status.warmPool; "" = leave as is
  std::string input_digest;  // status.inputDigest; "" = leave as is

  bool Terminal() const { return phase == api::kPhaseSucceeded || phase == api::kPhaseFailed; }
};

RunStatus PendingStatus(std::string reason, std::string message, std::string pod_name = "");
RunStatus FailedStatus(std::string reason, std::string message, std::string pod_name = "");

// What the Pod's state says about the run. `timeout_seconds` and `deadline_seconds` word the
// messages. Pending Pods map to Pending (Unschedulable or PodPending); image errors, eviction,
// the deadline backstop, deletion and other platform failures to Failed/PodFailed; a
// terminated runner container to Succeeded/Completed, or Failed with NonZeroExit,
// MemoryLimitExceeded (OOMKilled) or Killed (signal).
RunStatus ObservePod(const Pod& pod, std::int64_t deadline_seconds);

// The status a complete runner report gives (the Pod's own state only names the Pod).
// Reasons: runnerError -> PodFailed; limit time -> TimeLimitExceeded, memory ->
// MemoryLimitExceeded, terminated -> PodFailed; a signal -> Killed; exit != 0 ->
// NonZeroExit; else Completed. Each stream is cut (and flagged) so that its size as the
// apiserver encodes it stays within `output_cap`.
RunStatus FromReport(const Pod& pod, const api::Report& report, std::int64_t output_cap);

// True if writing `desired` would change what `run` already shows.
// True when `reason` fits metav1.Condition's reason (CamelCase: a letter, then letters,
// digits, '_', ',' or ':', not ending in ',' or ':').
bool IsConditionReason(std::string_view reason);

bool StatusDiffers(const CodeRun& run, const RunStatus& desired);

// A status that no runner report backs (the report is missing, torn or unreadable, or the
// Pod ended without a runner container state) never reads as success: it becomes
// Failed/PodFailed without an exit code or signal (those would be the runner's, not the
// program's), except MemoryLimitExceeded (the container was OOM-killed), which stays.
// `problem` says what happened to the report.
RunStatus WithoutReport(RunStatus from_pod, const std::string& problem);

// A merge patch for the /status subresource: metadata.resourceVersion (optimistic
// concurrency), the status fields (a judge run's verdict, testsPassed, testsTotal, passed and
// tests included), observedGeneration and the Finished condition.
// `now` is RFC 3339; it stamps completionTime for terminal statuses and the condition's
// lastTransitionTime when its status flips.
kube::json StatusPatch(const CodeRun& run, const RunStatus& desired, const std::string& now);

// A case of status.tests as StatusPatch wrote it (the cases a judge run's earlier Pods
// ran). InvalidArgument when it is not an object with a name and a known verdict.
absl::StatusOr<CaseStatus> ParseCaseStatus(const kube::json& item);

// RFC 3339 UTC with seconds ("2026-11-26T06:37:52Z"), and its inverse (nullopt if malformed).
std::string FormatTime(std::int64_t unix_seconds);
std::optional<std::int64_t> ParseTime(const std::string& rfc3339);

}  // namespace coderun::reconcile
