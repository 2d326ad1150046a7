#include "reconcile/validate.h"

#include <algorithm>
#include <cmath>
#include <utility>

#include "absl/strings/str_cat.h"
#include "api/coderun.h"
#include "api/report.h"
#include "judge/compare.h"
#include "judge/verdict.h"

namespace coderun::reconcile {
namespace {

std::string AboveMax(absl::string_view field, absl::string_view value, absl::string_view max) {
  return absl::StrCat("spec.", field, ": ", value, " is above the maximum ", max,
                      " allowed by this controller");
}

std::variant<JudgeLimits, std::string> ValidateJudge(const CodeRun& run, const Settings& s) {
  const JudgeSpec& j = run.judge;
  if (j.cases > static_cast<std::int64_t>(api::kMaxTestCases)) {
    return absl::StrCat("spec.tests: ", j.cases, " test cases, more than the maximum ",
                        api::kMaxTestCases);
  }
  if (j.min_case_timeout_seconds < 1) {
    return std::string("spec.tests[].timeoutSeconds: must be at least 1");
  }
  if (j.max_case_timeout_seconds > s.max_timeout_seconds) {
    return AboveMax("tests[].timeoutSeconds", absl::StrCat(j.max_case_timeout_seconds),
                    absl::StrCat(s.max_timeout_seconds));
  }
  if (!judge::ParseCompareMode(j.compare_mode)) {
    return absl::StrCat("spec.compare.mode: \"", j.compare_mode,
                        "\" is not one of exact, trimTrailingWhitespace, tokens, float");
  }
  for (const auto& [field, value] : {std::pair{"absoluteTolerance", j.absolute_tolerance},
                                     std::pair{"relativeTolerance", j.relative_tolerance}}) {
    if (!std::isfinite(value) || value < 0) {
      return absl::StrCat("spec.compare.", field, ": must be a finite number, at least 0");
    }
  }
  JudgeLimits jl;
  jl.cases = j.cases;
  jl.budget_seconds = j.timeout_sum_seconds + j.cases * kJudgeCaseAllowanceSeconds;
  const std::int64_t max_budget = s.max_timeout_seconds * kJudgeBudgetFactor;
  if (jl.budget_seconds > max_budget) {
    return absl::StrCat("spec.tests: the cases' timeouts plus ", kJudgeCaseAllowanceSeconds,
                        " s per case come to ", jl.budget_seconds,
                        " s, above the maximum ", max_budget, " s of a judge run (",
                        kJudgeBudgetFactor, " x the controller's maximum timeout)");
  }
  jl.case_stdout_bytes = std::min(run.limits.output_bytes, kJudgeStdoutBudget / j.cases);
  jl.case_share_bytes = static_cast<std::int64_t>(judge::CaseOutputShare(
      static_cast<size_t>(run.limits.output_bytes), static_cast<size_t>(j.cases)));
  return jl;
}

}  // namespace

Validation Validate(const CodeRun& run, const Settings& s) {
  const Limits& l = run.limits;
  if (run.language != api::kLanguagePython) {
    return absl::StrCat("spec.language: \"", run.language, "\" is not supported (supported: ",
                        api::kLanguagePython, ")");
  }
  if (l.timeout_seconds < 1) return std::string("spec.limits.timeoutSeconds: must be at least 1");
  if (l.timeout_seconds > s.max_timeout_seconds) {
    return AboveMax("limits.timeoutSeconds", absl::StrCat(l.timeout_seconds),
                    absl::StrCat(s.max_timeout_seconds));
  }
  auto cpu = ParseQuantity(std::string_view(l.cpu));
  if (!cpu.ok()) return absl::StrCat("spec.limits.cpu: ", cpu.status().message());
  if (cpu->milli < 1) return absl::StrCat("spec.limits.cpu: ", l.cpu, " is below 1m");
  if (*cpu > s.max_cpu) {
    return AboveMax("limits.cpu", l.cpu, FormatMilli(s.max_cpu.milli));
  }
  auto memory = ParseQuantity(std::string_view(l.memory));
  if (!memory.ok()) return absl::StrCat("spec.limits.memory: ", memory.status().message());
  if (memory->Value() < 1) return absl::StrCat("spec.limits.memory: ", l.memory, " is zero");
  if (*memory > s.max_memory) {
    return AboveMax("limits.memory", l.memory, absl::StrCat(s.max_memory.Value(), " bytes"));
  }
  if (l.pids < 1) return std::string("spec.limits.pids: must be at least 1");
  if (l.pids > s.max_pids) {
    return AboveMax("limits.pids", absl::StrCat(l.pids), absl::StrCat(s.max_pids));
  }
  if (l.output_bytes < 0) return std::string("spec.limits.outputBytes: must not be negative");
  if (l.output_bytes > s.max_output_bytes) {
    return AboveMax("limits.outputBytes", absl::StrCat(l.output_bytes),
                    absl::StrCat(s.max_output_bytes));
  }
  if (run.ttl_seconds_after_finished &&
      *run.ttl_seconds_after_finished > s.max_ttl_seconds_after_finished) {
    return AboveMax("ttlSecondsAfterFinished", absl::StrCat(*run.ttl_seconds_after_finished),
                    absl::StrCat(s.max_ttl_seconds_after_finished));
  }
  ValidLimits valid{l.timeout_seconds, cpu->milli, memory->Value(), l.pids, l.output_bytes};
  if (!run.Judged()) return valid;
  auto judge = ValidateJudge(run, s);
  if (auto* why = std::get_if<std::string>(&judge)) return *why;
  valid.judge = std::get<JudgeLimits>(judge);
  return valid;
}

std::int64_t DeadlineSeconds(const ValidLimits& limits, const Settings& s) {
  return (limits.judge ? limits.judge->budget_seconds : limits.timeout_seconds) +
         s.deadline_margin_seconds;
}

std::int64_t ReportLimitBytes(const ValidLimits& limits) {
  const size_t frame =
      limits.judge ? api::MaxJudgeFrameBytes(static_cast<size_t>(limits.judge->cases),
                                             static_cast<size_t>(limits.judge->case_stdout_bytes),
                                             static_cast<size_t>(limits.judge->case_share_bytes))
                   : api::MaxFrameBytes(static_cast<size_t>(limits.output_bytes));
  return static_cast<std::int64_t>(frame);
}

std::int64_t TtlSecondsAfterFinished(const CodeRun& run, const Settings& s) {
  return std::min(run.ttl_seconds_after_finished.value_or(s.default_ttl_seconds),
                  s.max_ttl_seconds_after_finished);
}

}  // namespace coderun::reconcile
