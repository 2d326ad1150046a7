#include "judge/verdict.h"

#include <algorithm>
#include <array>
#include <utility>

namespace coderun::judge {
namespace {

constexpr std::array<std::pair<Verdict, std::string_view>, 7> kNames = {{
    {Verdict::kAccepted, "Accepted"},
    {Verdict::kWrongAnswer, "WrongAnswer"},
    {Verdict::kTimeLimitExceeded, "TimeLimitExceeded"},
    {Verdict::kMemoryLimitExceeded, "MemoryLimitExceeded"},
    {Verdict::kRuntimeError, "RuntimeError"},
    {Verdict::kOutputLimitExceeded, "OutputLimitExceeded"},
    {Verdict::kSkipped, "Skipped"},
}};

}  // namespace

std::string_view VerdictName(Verdict verdict) {
  for (const auto& [v, name] : kNames) {
    if (v == verdict) return name;
  }
  return "";
}

std::optional<Verdict> ParseVerdict(std::string_view name) {
  for (const auto& [v, n] : kNames) {
    if (n == name) return v;
  }
  return std::nullopt;
}

Verdict VerdictFor(const CaseRun& run, bool output_matches) {
  switch (run.limit) {
    case api::Limit::kTime: return Verdict::kTimeLimitExceeded;
    case api::Limit::kMemory: return Verdict::kMemoryLimitExceeded;
    case api::Limit::kTerminated: return Verdict::kSkipped;
    case api::Limit::kNone: break;
  }
  if (run.stdout_truncated) return Verdict::kOutputLimitExceeded;
  if (run.signal != 0 || run.exit_code != 0) return Verdict::kRuntimeError;
  return output_matches ? Verdict::kAccepted : Verdict::kWrongAnswer;
}

Verdict OverallVerdict(const std::vector<Verdict>& verdicts) {
  for (Verdict v : verdicts) {
    if (v != Verdict::kAccepted && v != Verdict::kSkipped) return v;
  }
  if (verdicts.empty()) return Verdict::kSkipped;
  const bool all_accepted = std::all_of(verdicts.begin(), verdicts.end(),
                                        [](Verdict v) { return v == Verdict::kAccepted; });
  return all_accepted ? Verdict::kAccepted : Verdict::kSkipped;
}

size_t CaseOutputShare(size_t output_bytes, size_t cases) {
  if (cases == 0) return output_bytes;
  return std::max(kMinCaseOutputBytes, output_bytes / (2 * cases));
}

}  // namespace coderun::judge
