#include "reconcile/judging.h"

#include <algorithm>

#include "absl/strings/str_cat.h"
#include "judge/compare.h"
#include "judge/verdict.h"
#include "reconcile/output.h"

namespace coderun::reconcile {
namespace {

using kube::json;
using judge::Verdict;

judge::CompareSpec CompareOf(const JudgeSpec& j) {
  judge::CompareSpec spec;
  spec.mode = judge::ParseCompareMode(j.compare_mode).value_or(spec.mode);
  spec.absolute_tolerance = j.absolute_tolerance;
  spec.relative_tolerance = j.relative_tolerance;
  return spec;
}

// Why a case that ran got `verdict` (WrongAnswer's difference is the comparison's).
std::string Why(Verdict verdict, const api::CaseReport& c, const JudgeLimits& limits) {
  switch (verdict) {
    case Verdict::kTimeLimitExceeded:
      return absl::StrCat("ran past its time limit and was killed after ", c.wall_millis, " ms");
    case Verdict::kMemoryLimitExceeded:
      return "ran out of memory (OOM killed)";
    case Verdict::kOutputLimitExceeded:
      return absl::StrCat("wrote ", c.stdout_bytes, " bytes to stdout, more than the case may (",
                          limits.case_stdout_bytes, " bytes as JSON)");
    case Verdict::kRuntimeError:
      return c.signal != 0 ? absl::StrCat("killed by signal ", c.signal)
                           : absl::StrCat("exited with code ", c.exit_code);
    case Verdict::kSkipped:
      return "stopped from outside before it finished";
    case Verdict::kAccepted:
    case Verdict::kWrongAnswer:
      break;
  }
  return "";
}

}  // namespace

size_t JudgeStatusBytes(const JudgeLimits& limits) {
  return static_cast<size_t>(limits.cases) *
         (2 * (static_cast<size_t>(limits.case_share_bytes) + 2) + kCaseStatusOverheadBytes);
}

absl::StatusOr<JudgeStatus> JudgeReport(const CodeRun& run, const json& spec,
                                        const api::Report& report, const ValidLimits& limits,
                                        const std::vector<CaseStatus>& earlier) {
  const json& tests = SpecTests(spec);
  if (!limits.judge || tests.empty()) {
    return absl::InvalidArgumentError("the run has no test cases");
  }
  const JudgeLimits& jl = *limits.judge;
  const size_t first = earlier.size();  // the report's first case is the spec's case `first`
  if (first + report.tests.size() > tests.size()) {
    return absl::InvalidArgumentError(absl::StrCat("the report holds ", report.tests.size(),
                                                   " cases from case ", first + 1, ", the spec ",
                                                   tests.size()));
  }
  const judge::CompareSpec compare = CompareOf(run.judge);
  const size_t share = static_cast<size_t>(jl.case_share_bytes);
  JudgeStatus out;
  out.total = static_cast<std::int64_t>(tests.size());
  std::vector<Verdict> verdicts;
  std::string failed_first;  // name of the first case that is not Accepted
  for (size_t i = 0; i < tests.size(); ++i) {
    const json& t = tests[i];
    CaseStatus cs;
    cs.name = t.is_object() ? StringField(t, "name") : "";
    if (i < first) {  // judged when an earlier Pod of the run ended
      if (earlier[i].name != cs.name) {
        return absl::InvalidArgumentError(absl::StrCat("case ", i + 1, " of status.tests is \"",
                                                       earlier[i].name.substr(0, 64),
                                                       "\", the spec's \"", cs.name, "\""));
      }
      cs = earlier[i];
      const Verdict v = judge::ParseVerdict(cs.verdict).value_or(Verdict::kSkipped);
      if (v != Verdict::kAccepted && failed_first.empty()) failed_first = cs.name;
      if (v == Verdict::kAccepted) ++out.passed;
      verdicts.push_back(v);
      out.cases.push_back(std::move(cs));
      continue;
    }
    if (i - first >= report.tests.size()) {
      cs.verdict = judge::VerdictName(Verdict::kSkipped);
      cs.message = !failed_first.empty() && run.judge.stop_on_first_failure
                       ? absl::StrCat("not run: case ", failed_first,
                                      " failed first (stopOnFirstFailure)")
                       : "not run: the run ended before this case";
      verdicts.push_back(Verdict::kSkipped);
      out.cases.push_back(std::move(cs));
      continue;
    }
    const api::CaseReport& c = report.tests[i - first];
    if (c.name != cs.name) {
      return absl::InvalidArgumentError(absl::StrCat("case ", i + 1, " of the report is \"",
                                                     c.name.substr(0, 64), "\", the spec's \"",
                                                     cs.name, "\""));
    }
    const judge::Comparison cmp = judge::Compare(compare, c.stdout_text, StringField(t, "expectedStdout"));
    Verdict v = judge::VerdictFor(
        judge::CaseRun{c.limit, c.exit_code, c.signal, c.stdout_truncated}, cmp.equal);
    std::string message = v == Verdict::kWrongAnswer ? cmp.difference : Why(v, c, jl);
    if (run.judge.stop_on_first_failure && !failed_first.empty()) {
      v = Verdict::kSkipped;
      message = absl::StrCat("not judged: case ", failed_first, " failed first (stopOnFirstFailure)");
    }
    if (v != Verdict::kAccepted && failed_first.empty()) failed_first = cs.name;
    CutToEncodedSize(message, kMaxCaseMessageBytes);
    cs.verdict = judge::VerdictName(v);
    cs.message = std::move(message);
    if (c.exit_code >= 0) cs.exit_code = c.exit_code;
    if (c.signal != 0) cs.signal = c.signal;
    RunOutput o{c.stdout_text, c.stderr_text, c.stdout_truncated, c.stderr_truncated,
                c.wall_millis, c.cpu_millis, c.max_rss_bytes};
    o.stdout_truncated |= CutToEncodedSize(o.stdout_text, share);
    o.stderr_truncated |= CutToEncodedSize(o.stderr_text, share);
    cs.output = std::move(o);
    if (v == Verdict::kAccepted) ++out.passed;
    verdicts.push_back(v);
    out.cases.push_back(std::move(cs));
  }
  out.verdict = judge::VerdictName(judge::OverallVerdict(verdicts));
  return out;
}

std::string JudgeSummary(const JudgeStatus& judged) {
  return absl::StrCat(judged.passed, "/", judged.total, " passed: ", judged.verdict);
}

}  // namespace coderun::reconcile
