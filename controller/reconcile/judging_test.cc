#include "reconcile/judging.h"

#include <gtest/gtest.h>

#include "reconcile/output.h"

namespace coderun::reconcile {
namespace {

using kube::json;

// A judge run of `spec` (the full spec, as the GET returns it), validated with defaults.
struct Judged {
  CodeRun run;
  ValidLimits limits;
};

Judged Prepare(const json& spec) {
  Judged j;
  j.run = *DecodeCodeRun({{"metadata", {{"name", "r"}}}, {"spec", spec}});
  Validation v = Validate(j.run, Settings{});
  EXPECT_TRUE(std::holds_alternative<ValidLimits>(v)) << std::get<std::string>(v);
  j.limits = std::get<ValidLimits>(v);
  return j;
}

json Case(const std::string& name, const std::string& expected) {
  return {{"name", name}, {"stdin", ""}, {"expectedStdout", expected}};
}

api::CaseReport Ran(const std::string& name, const std::string& out, int exit_code = 0,
                    api::Limit limit = api::Limit::kNone) {
  api::CaseReport c;
  c.name = name;
  c.exit_code = exit_code;
  c.stdout_text = out;
  c.stdout_bytes = out.size();
  c.limit = limit;
  c.wall_millis = 30;
  c.cpu_millis = 20;
  c.max_rss_bytes = 9000000;
  return c;
}

TEST(JudgeReportTest, EachCaseGetsItsVerdictAndUnreportedCasesAreSkipped) {
  json spec = {{"code", "x"},
               {"tests",
                {Case("ok", "3\n"), Case("wrong", "5\n"), Case("slow", "1\n"),
                 Case("oom", "1\n"), Case("crash", "1\n"), Case("killed", "1\n"),
                 Case("chatty", "1\n"), Case("never", "1\n")}}};
  Judged j = Prepare(spec);
  api::Report report;
  report.exit_code = 0;
  report.tests = {Ran("ok", "3  \r\n"),  // trimTrailingWhitespace by default
                  Ran("wrong", "4\n"),
                  Ran("slow", "", -1, api::Limit::kTime),
                  Ran("oom", "", -1, api::Limit::kMemory),
                  Ran("crash", "1\n", 3),
                  Ran("killed", "", -1),
                  Ran("chatty", std::string(100, 'y'))};
  report.tests[2].signal = 9;
  report.tests[5].signal = 11;
  report.tests[6].stdout_truncated = true;
  report.tests[6].stdout_bytes = 1 << 30;
  report.tests[4].stderr_text = "Traceback ...\n";
  absl::StatusOr<JudgeStatus> s = JudgeReport(j.run, spec, report, j.limits);
  ASSERT_TRUE(s.ok()) << s.status();
  ASSERT_EQ(s->cases.size(), 8u);
  std::vector<std::string> verdicts;
  for (const CaseStatus& c : s->cases) verdicts.push_back(c.verdict);
  EXPECT_EQ(verdicts, (std::vector<std::string>{"Accepted", "WrongAnswer", "TimeLimitExceeded",
                                                "MemoryLimitExceeded", "RuntimeError",
                                                "RuntimeError", "OutputLimitExceeded", "Skipped"}));
  EXPECT_EQ(s->verdict, "WrongAnswer");  // the first case neither Accepted nor Skipped
  EXPECT_EQ(s->passed, 1);
  EXPECT_EQ(s->total, 8);
  EXPECT_EQ(JudgeSummary(*s), "1/8 passed: WrongAnswer");

  EXPECT_EQ(s->cases[0].message, "");
  EXPECT_EQ(s->cases[0].exit_code, 0);
  ASSERT_TRUE(s->cases[0].output.has_value());
  EXPECT_EQ(s->cases[0].output->stdout_text, "3  \r\n");
  EXPECT_EQ(s->cases[0].output->wall_millis, 30u);
  EXPECT_EQ(s->cases[0].output->cpu_millis, 20u);
  EXPECT_EQ(s->cases[0].output->max_rss_bytes, 9000000u);
  EXPECT_EQ(s->cases[1].message, R"(line 1: expected "5", got "4")");
  EXPECT_NE(s->cases[2].message.find("time limit"), std::string::npos);
  EXPECT_FALSE(s->cases[2].exit_code.has_value());
  EXPECT_EQ(s->cases[2].signal, 9);
  EXPECT_EQ(s->cases[4].message, "exited with code 3");
  EXPECT_EQ(s->cases[4].output->stderr_text, "Traceback ...\n");
  EXPECT_EQ(s->cases[5].message, "killed by signal 11");
  EXPECT_TRUE(s->cases[6].output->stdout_truncated);
  EXPECT_NE(s->cases[6].message.find("1073741824 bytes"), std::string::npos);
  EXPECT_EQ(s->cases[7].message, "not run: the run ended before this case");
  EXPECT_FALSE(s->cases[7].output.has_value());

  json patch = StatusPatch(j.run, RunStatus{api::kPhaseSucceeded, api::kReasonCompleted,
                                            JudgeSummary(*s), "p", "", "", 0, std::nullopt,
                                            RunOutput{}, *s},
                           "2026-01-01T00:00:00Z")["status"];
  EXPECT_EQ(patch["verdict"], "WrongAnswer");
  EXPECT_EQ(patch["testsPassed"], 1);
  EXPECT_EQ(patch["testsTotal"], 8);
  EXPECT_EQ(patch["passed"], "1/8");
  EXPECT_EQ(patch["stdout"], "");
  EXPECT_EQ(patch["exitCode"], 0);
  ASSERT_EQ(patch["tests"].size(), 8u);
  EXPECT_EQ(patch["tests"][1],
            json::parse(R"({"name":"wrong","verdict":"WrongAnswer","exitCode":0,
              "message":"line 1: expected \"5\", got \"4\"","stdout":"4\n","stderr":"",
              "stdoutTruncated":false,"stderrTruncated":false,
              "usage":{"wallMillis":30,"cpuMillis":20,"maxRSSBytes":9000000}})"));
  EXPECT_EQ(patch["tests"][7], json::parse(R"({"name":"never","verdict":"Skipped",
              "message":"not run: the run ended before this case"})"));
}

TEST(JudgeReportTest, StopOnFirstFailureSkipsEveryCaseAfterTheFirstFailure) {
  json spec = {{"code", "x"},
               {"stopOnFirstFailure", true},
               {"compare", {{"mode", "tokens"}}},
               {"tests", {Case("a", "1 2"), Case("b", "3"), Case("c", "4"), Case("d", "5")}}};
  Judged j = Prepare(spec);
  api::Report report;
  report.exit_code = 0;
  // The runner cannot know b's answer is wrong: it runs c too.
  report.tests = {Ran("a", "1\n2\n"), Ran("b", "30"), Ran("c", "4")};
  absl::StatusOr<JudgeStatus> s = JudgeReport(j.run, spec, report, j.limits);
  ASSERT_TRUE(s.ok()) << s.status();
  EXPECT_EQ(s->cases[0].verdict, "Accepted");
  EXPECT_EQ(s->cases[1].verdict, "WrongAnswer");
  EXPECT_EQ(s->cases[2].verdict, "Skipped");
  EXPECT_EQ(s->cases[2].message, "not judged: case b failed first (stopOnFirstFailure)");
  EXPECT_EQ(s->cases[3].verdict, "Skipped");
  EXPECT_EQ(s->cases[3].message, "not run: case b failed first (stopOnFirstFailure)");
  EXPECT_EQ(s->verdict, "WrongAnswer");
  EXPECT_EQ(s->passed, 1);

  report.tests = {Ran("a", "1 2"), Ran("b", "3"), Ran("c", "4"), Ran("d", "5")};
  s = JudgeReport(j.run, spec, report, j.limits);
  ASSERT_TRUE(s.ok());
  EXPECT_EQ(s->verdict, "Accepted");
  EXPECT_EQ(JudgeSummary(*s), "4/4 passed: Accepted");
}

TEST(JudgeReportTest, AReportWhoseCasesAreNotTheSpecsIsRefused) {
  json spec = {{"code", "x"}, {"tests", {Case("a", "1"), Case("b", "2")}}};
  Judged j = Prepare(spec);
  api::Report report;
  report.tests = {Ran("b", "2")};
  EXPECT_TRUE(absl::IsInvalidArgument(JudgeReport(j.run, spec, report, j.limits).status()));
  report.tests = {Ran("a", "1"), Ran("b", "2"), Ran("c", "3")};
  EXPECT_TRUE(absl::IsInvalidArgument(JudgeReport(j.run, spec, report, j.limits).status()));
}

// 256 cases that each print their whole capture cap of characters the apiserver escapes
// (6 bytes each): the status keeps each case's share, and the whole patch stays within the
// bound the stored-size check assumes.
// A run that went on in a new Pod: the cases judged before stand as they are (their
// verdicts count), the report covers the spec's cases from there on.
TEST(JudgeReportTest, CasesJudgedByAnEarlierPodStandAndTheReportContinuesAfterThem) {
  json spec = {{"code", "x"},
               {"tests", {Case("a", "1\n"), Case("b", "2\n"), Case("c", "3\n"), Case("d", "4\n")}}};
  Judged j = Prepare(spec);
  CaseStatus a{"a", "Accepted", "", 0, std::nullopt, RunOutput{"1\n", "", false, false, 5, 5, 5}};
  CaseStatus b{"b", "MemoryLimitExceeded", "ran out of memory", std::nullopt, 9, std::nullopt};
  api::Report report;
  report.exit_code = 0;
  report.tests = {Ran("c", "3\n"), Ran("d", "4\n")};
  auto judged = JudgeReport(j.run, spec, report, j.limits, {a, b});
  ASSERT_TRUE(judged.ok()) << judged.status();
  ASSERT_EQ(judged->cases.size(), 4u);
  EXPECT_EQ(judged->cases[0].output->stdout_text, "1\n");
  EXPECT_EQ(judged->cases[1].verdict, "MemoryLimitExceeded");
  EXPECT_EQ(judged->cases[2].verdict, "Accepted");
  EXPECT_EQ(judged->cases[3].verdict, "Accepted");
  EXPECT_EQ(judged->passed, 3);
  EXPECT_EQ(judged->verdict, "MemoryLimitExceeded");

  // The report must start where the earlier cases end, and they must be the spec's.
  report.tests = {Ran("b", "2\n"), Ran("c", "3\n")};
  EXPECT_FALSE(JudgeReport(j.run, spec, report, j.limits, {a, b}).ok());
  CaseStatus other = a;
  other.name = "z";
  report.tests = {Ran("c", "3\n")};
  EXPECT_FALSE(JudgeReport(j.run, spec, report, j.limits, {other, b}).ok());
  report.tests = {Ran("c", "3\n"), Ran("d", "4\n"), Ran("e", "5\n")};
  EXPECT_FALSE(JudgeReport(j.run, spec, report, j.limits, {a, b}).ok());
}

TEST(JudgeReportTest, StatusOfTheLargestJudgeRunStaysBounded) {
  json tests = json::array();
  for (int i = 0; i < 256; ++i) tests.push_back(Case("case-" + std::to_string(i), "x"));
  json spec = {{"code", "x"}, {"limits", {{"outputBytes", 262144}}}, {"tests", tests}};
  Judged j = Prepare(spec);
  ASSERT_EQ(j.limits.judge->case_stdout_bytes, 32768);
  ASSERT_EQ(j.limits.judge->case_share_bytes, 512);  // 262144 / 512
  api::Report report;
  report.exit_code = 0;
  for (int i = 0; i < 256; ++i) {
    api::CaseReport c = Ran("case-" + std::to_string(i), std::string(32768 / 6, '<'), 1);
    c.stderr_text = std::string(512, '&');
    c.signal = 0;
    report.tests.push_back(std::move(c));
  }
  absl::StatusOr<JudgeStatus> s = JudgeReport(j.run, spec, report, j.limits);
  ASSERT_TRUE(s.ok()) << s.status();
  for (const CaseStatus& c : s->cases) {
    ASSERT_TRUE(c.output.has_value());
    EXPECT_LE(ApiEncodedSize(c.output->stdout_text), 512u);
    EXPECT_LE(ApiEncodedSize(c.output->stderr_text), 512u);
    EXPECT_TRUE(c.output->stdout_truncated);
    EXPECT_TRUE(c.output->stderr_truncated);
    EXPECT_EQ(c.verdict, "RuntimeError");
  }
  RunStatus st{api::kPhaseSucceeded, api::kReasonCompleted, JudgeSummary(*s), "p"};
  st.output = RunOutput{};
  st.judge = *s;
  const size_t stored = StoredSize(StatusPatch(j.run, st, "2026-01-01T00:00:00Z"));
  EXPECT_LE(stored, JudgeStatusBytes(*j.limits.judge) + kStatusOverheadBytes);
  EXPECT_LE(stored, size_t{512} * 1024);
}

}  // namespace
}  // namespace coderun::reconcile
