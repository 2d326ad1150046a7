// A test case's verdict from what its run did, the overall verdict of a judge run, and how
// the run's output budget is shared between its cases in status (docs/judge-mode.md).
#pragma once

#include <cstddef>
#include <cstdint>
#include <optional>
#include <string_view>
#include <vector>

#include "api/report.h"

namespace coderun::judge {

enum class Verdict {
  kAccepted,
  kWrongAnswer,
  kTimeLimitExceeded,
  kMemoryLimitExceeded,
  kRuntimeError,         // exited non-zero or was killed by a signal
  kOutputLimitExceeded,  // wrote more stdout than the case may (limits.outputBytes)
  kSkipped,              // not run: stopOnFirstFailure after a failed case, or the run ended
};

std::string_view VerdictName(Verdict verdict);  // "Accepted", "WrongAnswer", ...
std::optional<Verdict> ParseVerdict(std::string_view name);

// What one case's run did, as the runner reports it.
struct CaseRun {
  api::Limit limit = api::Limit::kNone;
  int exit_code = -1;
  int signal = 0;
  bool stdout_truncated = false;  // more stdout than the case's cap
};

// The verdict of a case that ran, the first that applies: the time limit, the memory limit,
// the output limit, a crash (non-zero exit or a signal), then `output_matches`. A case the
// runner stopped from outside (Limit::kTerminated) did not finish: Skipped.
Verdict VerdictFor(const CaseRun& run, bool output_matches);

// Accepted only when there is at least one case and every case is Accepted; otherwise the
// verdict of the first case that is neither Accepted nor Skipped (Skipped if all are).
Verdict OverallVerdict(const std::vector<Verdict>& verdicts);

// Bytes of stdout and of stderr each case keeps in status: the run's limits.outputBytes
// shared by its cases (both streams), never below kMinCaseOutputBytes, so a judge run's
// status is bounded like a plain run's (at most max(outputBytes, cases * 2 * 256)).
inline constexpr size_t kMinCaseOutputBytes = 256;
size_t CaseOutputShare(size_t output_bytes, size_t cases);

}  // namespace coderun::judge
