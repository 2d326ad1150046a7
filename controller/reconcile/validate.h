// Checks a CodeRun's spec against what the API schema cannot know: the controller's maxima
// and supported languages, and a judge run's bounds (its case count, tolerances, case
// timeouts and whole wall budget). What needs the cases' texts (names, the Secret's size)
// is checked when the run starts (pod.h: InputProblem, SecretProblem).
#pragma once

#include <cstdint>
#include <optional>
#include <string>
#include <variant>

#include "reconcile/settings.h"
#include "reconcile/types.h"

namespace coderun::reconcile {

// The runner's capture cap of one case's stdout, JSON-encoded: what the controller compares
// with the expected output (docs/judge-mode.md). min(outputBytes, kJudgeStdoutBudget / cases),
// so that a whole report stays a bounded log read.
inline constexpr std::int64_t kJudgeStdoutBudget = 8 << 20;
// Added per case to the judge run's wall budget: the runner's own work between cases (kill,
// reap, empty /tmp and /dev/shm, start the next program).
inline constexpr std::int64_t kJudgeCaseAllowanceSeconds = 1;
// A judge run's whole wall budget (its cases' timeouts plus the allowance per case) may be at
// most this many times --max-timeout-seconds (with the default 600 s: 100 minutes).
inline constexpr std::int64_t kJudgeBudgetFactor = 10;

// What a judge run's Pod is given (judge.cases > 0).
struct JudgeLimits {
  std::int64_t cases = 0;
  std::int64_t case_stdout_bytes = 0;  // --case-stdout-bytes: captured, compared
  // --output-bytes in judge mode: each case's stderr cap; also what status keeps of each of a
  // case's streams (judge::CaseOutputShare(outputBytes, cases)).
  std::int64_t case_share_bytes = 0;
  // The cases' timeouts plus kJudgeCaseAllowanceSeconds each: the Pod's deadline before the
  // margin.
  std::int64_t budget_seconds = 0;
};

// A spec that passed validation, in the units the Pod needs.
struct ValidLimits {
  std::int64_t timeout_seconds;  // the program's (a judge run: each case's default)
  std::int64_t cpu_milli;
  std::int64_t memory_bytes;
  std::int64_t pids;
  std::int64_t output_bytes;
  std::optional<JudgeLimits> judge;  // a judge run only
};

// The Pod's activeDeadlineSeconds: the run's time (a judge run: its whole budget) plus the
// controller's margin.
std::int64_t DeadlineSeconds(const ValidLimits& limits, const Settings& settings);
// limitBytes of the Pod log read: the largest report frame the run's caps allow.
std::int64_t ReportLimitBytes(const ValidLimits& limits);

// Either the limits, or one line naming the field and why it is refused
// ("spec.limits.memory: 8Gi is above the maximum 4Gi").
using Validation = std::variant<ValidLimits, std::string>;

Validation Validate(const CodeRun& run, const Settings& settings);

// Seconds a finished run is kept: spec.ttlSecondsAfterFinished, else the default TTL, never
// more than the maximum (a run refused for its TTL must not be kept that long either).
std::int64_t TtlSecondsAfterFinished(const CodeRun& run, const Settings& settings);

}  // namespace coderun::reconcile
