// Judge mode's status (docs/judge-mode.md): each case of a judge run's report compared with
// its expected output, and the verdicts, counts and bounded per-case output that go into
// status. The expected outputs come from the full spec (a GET; the cache never holds them).
#pragma once

#include <cstddef>
#include <string>
#include <vector>

#include "absl/status/statusor.h"
#include "api/report.h"
#include "kube/client.h"
#include "reconcile/status.h"
#include "reconcile/types.h"
#include "reconcile/validate.h"

namespace coderun::reconcile {

// A case's message is cut to this size as the apiserver encodes it.
inline constexpr size_t kMaxCaseMessageBytes = 512;
// A case in status besides its two streams: name, verdict, message, exit code, signal,
// usage, flags and the member names.
inline constexpr size_t kCaseStatusOverheadBytes = 1024;

// The most a judge run with `limits` adds to its status (status.tests, as the apiserver
// stores it): each case's two streams at the share, plus its overhead.
size_t JudgeStatusBytes(const JudgeLimits& limits);

// The results of judge run `run` from the runner's `report` and the run's full `spec`
// (spec.tests with expectedStdout). For each spec case, in order: a reported case's verdict
// is judge::VerdictFor with the comparison of its whole captured stdout (spec.compare), and
// WrongAnswer says where the output first differs; a case not reported is Skipped; with
// spec.stopOnFirstFailure every case after the first that is not Accepted is Skipped. Each
// case keeps limits.judge->case_share_bytes of each stream (cut as the apiserver encodes it,
// flagged as truncated). `earlier`: the cases judged when earlier Pods of the run ended
// (status.tests of a run that went on from status.nextCase); they stand as they are and the
// report's first case is the spec's case earlier.size(). InvalidArgument if earlier and the
// report's cases are not a prefix of the spec's (by name, in order): such a report is not
// the run's.
absl::StatusOr<JudgeStatus> JudgeReport(const CodeRun& run, const kube::json& spec,
                                        const api::Report& report, const ValidLimits& limits,
                                        const std::vector<CaseStatus>& earlier = {});

// "3/5 passed: WrongAnswer": the run's message and its JudgeVerdict event.
std::string JudgeSummary(const JudgeStatus& judged);

}  // namespace coderun::reconcile
