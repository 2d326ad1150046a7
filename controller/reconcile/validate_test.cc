#include "reconcile/validate.h"

#include <gtest/gtest.h>

#include <cmath>
#include <limits>

#include "api/report.h"
#include "reconcile/types.h"

namespace coderun::reconcile {
namespace {

// A CodeRun whose spec gives nothing: every field has its default.
CodeRun DefaultRun() { return *DecodeCodeRun({{"metadata", {{"name", "r"}}}}); }

std::string Refusal(const CodeRun& run, const Settings& s = {}) {
  Validation v = Validate(run, s);
  auto* why = std::get_if<std::string>(&v);
  return why ? *why : "";
}

TEST(ValidateTest, DefaultsPass) {
  Validation v = Validate(DefaultRun(), Settings{});
  ASSERT_TRUE(std::holds_alternative<ValidLimits>(v));
  const auto& l = std::get<ValidLimits>(v);
  EXPECT_EQ(l.timeout_seconds, 10);
  EXPECT_EQ(l.cpu_milli, 1000);
  EXPECT_EQ(l.memory_bytes, 268435456);
  EXPECT_EQ(l.pids, 50);
  EXPECT_EQ(l.output_bytes, 65536);
}

TEST(ValidateTest, EachMaximumNamesItsField) {
  Settings s;
  s.max_timeout_seconds = 60;
  s.max_cpu = Quantity{2000};
  s.max_memory = Quantity{std::int64_t{512} * 1024 * 1024 * 1000};
  s.max_pids = 100;
  s.max_output_bytes = 131072;
  CodeRun run = DefaultRun();
  run.limits.timeout_seconds = 61;
  EXPECT_NE(Refusal(run, s).find("spec.limits.timeoutSeconds"), std::string::npos);
  run = DefaultRun();
  run.limits.cpu = "2500m";
  EXPECT_NE(Refusal(run, s).find("spec.limits.cpu"), std::string::npos);
  run = DefaultRun();
  run.limits.memory = "1Gi";
  EXPECT_NE(Refusal(run, s).find("spec.limits.memory"), std::string::npos);
  run = DefaultRun();
  run.limits.pids = 101;
  EXPECT_NE(Refusal(run, s).find("spec.limits.pids"), std::string::npos);
  run = DefaultRun();
  run.limits.output_bytes = 131073;
  EXPECT_NE(Refusal(run, s).find("spec.limits.outputBytes"), std::string::npos);
  run = DefaultRun();
  run.limits.memory = "512Mi";
  run.limits.cpu = "2";
  EXPECT_EQ(Refusal(run, s), "");
}

TEST(ValidateTest, TtlAboveTheMaximumIsRefusedNamingFieldAndMaximum) {
  Settings s;
  s.max_ttl_seconds_after_finished = 3600;
  CodeRun run = DefaultRun();
  run.ttl_seconds_after_finished = 3600;
  EXPECT_EQ(Refusal(run, s), "");
  run.ttl_seconds_after_finished = 3601;
  EXPECT_EQ(Refusal(run, s),
            "spec.ttlSecondsAfterFinished: 3601 is above the maximum 3600 allowed by this "
            "controller");
  // Unset means the default TTL, which the options keep at or below the maximum.
  run.ttl_seconds_after_finished.reset();
  EXPECT_EQ(Refusal(run, s), "");
  EXPECT_EQ(Refusal(run, Settings{}), "");
  run.ttl_seconds_after_finished = 604801;
  EXPECT_NE(Refusal(run, Settings{}).find("maximum 604800"), std::string::npos);
}

TEST(ValidateTest, KeptTtlIsTheSpecsOrTheDefaultButNeverAboveTheMaximum) {
  Settings s;
  s.default_ttl_seconds = 600;
  s.max_ttl_seconds_after_finished = 3600;
  CodeRun run = DefaultRun();
  EXPECT_EQ(TtlSecondsAfterFinished(run, s), 600);
  run.ttl_seconds_after_finished = 0;
  EXPECT_EQ(TtlSecondsAfterFinished(run, s), 0);
  run.ttl_seconds_after_finished = 1800;
  EXPECT_EQ(TtlSecondsAfterFinished(run, s), 1800);
  run.ttl_seconds_after_finished = std::int64_t{1} << 40;  // refused as InvalidSpec, then kept
  EXPECT_EQ(TtlSecondsAfterFinished(run, s), 3600);
}

TEST(ValidateTest, RefusesWhatTheSchemaCannotCatch) {
  CodeRun run = DefaultRun();
  run.language = "ruby";
  EXPECT_NE(Refusal(run).find("spec.language"), std::string::npos);
  run = DefaultRun();
  run.limits.cpu = "lots";
  EXPECT_NE(Refusal(run).find("spec.limits.cpu"), std::string::npos);
  run = DefaultRun();
  run.limits.memory = "0";
  EXPECT_NE(Refusal(run).find("spec.limits.memory"), std::string::npos);
}


CodeRun JudgeRun(std::int64_t cases, std::int64_t case_timeout = 2) {
  CodeRun run = DefaultRun();
  run.judge.cases = cases;
  run.judge.timeout_sum_seconds = cases * case_timeout;
  run.judge.min_case_timeout_seconds = case_timeout;
  run.judge.max_case_timeout_seconds = case_timeout;
  return run;
}

TEST(ValidateTest, JudgeRunGetsPerCaseCapsAndItsWholeBudget) {
  Validation v = Validate(JudgeRun(4), Settings{});
  ASSERT_TRUE(std::holds_alternative<ValidLimits>(v)) << std::get<std::string>(v);
  const ValidLimits& l = std::get<ValidLimits>(v);
  ASSERT_TRUE(l.judge.has_value());
  EXPECT_EQ(l.judge->cases, 4);
  EXPECT_EQ(l.judge->case_stdout_bytes, 65536);  // min(outputBytes, 8 MiB / 4)
  EXPECT_EQ(l.judge->case_share_bytes, 8192);    // 65536 / (2 x 4)
  EXPECT_EQ(l.judge->budget_seconds, 4 * 2 + 4 * kJudgeCaseAllowanceSeconds);
  EXPECT_EQ(DeadlineSeconds(l, Settings{}), 12 + Settings{}.deadline_margin_seconds);
  EXPECT_EQ(ReportLimitBytes(l), static_cast<std::int64_t>(api::MaxJudgeFrameBytes(4, 65536, 8192)));

  v = Validate(JudgeRun(256), Settings{});
  ASSERT_TRUE(std::holds_alternative<ValidLimits>(v));
  EXPECT_EQ(std::get<ValidLimits>(v).judge->case_stdout_bytes, 32768);  // 8 MiB / 256
  EXPECT_EQ(std::get<ValidLimits>(v).judge->case_share_bytes, 256);     // the floor

  // A plain run: no judge limits, the deadline and log read of before.
  const ValidLimits plain = std::get<ValidLimits>(Validate(DefaultRun(), Settings{}));
  EXPECT_FALSE(plain.judge.has_value());
  EXPECT_EQ(DeadlineSeconds(plain, Settings{}), 10 + Settings{}.deadline_margin_seconds);
  EXPECT_EQ(ReportLimitBytes(plain), static_cast<std::int64_t>(api::MaxFrameBytes(65536)));
}

TEST(ValidateTest, JudgeRunRefusalsNameTheirField) {
  EXPECT_NE(Refusal(JudgeRun(257)).find("spec.tests: 257 test cases, more than the maximum 256"),
            std::string::npos);
  Settings s;
  s.max_timeout_seconds = 60;
  EXPECT_NE(Refusal(JudgeRun(3, 61), s).find("spec.tests[].timeoutSeconds: 61 is above the maximum 60"),
            std::string::npos);
  EXPECT_NE(Refusal(JudgeRun(3, 0)).find("spec.tests[].timeoutSeconds"), std::string::npos);
  // 20 cases of 30 s: 620 s, above 10 x 60 s.
  EXPECT_NE(Refusal(JudgeRun(20, 30), s).find("come to 620 s, above the maximum 600 s"),
            std::string::npos);
  EXPECT_EQ(Refusal(JudgeRun(19, 30), s), "");
  CodeRun run = JudgeRun(2);
  run.judge.compare_mode = "regex";
  EXPECT_NE(Refusal(run).find("spec.compare.mode: \"regex\""), std::string::npos);
  run = JudgeRun(2);
  run.judge.absolute_tolerance = -1e-9;
  EXPECT_NE(Refusal(run).find("spec.compare.absoluteTolerance"), std::string::npos);
  run = JudgeRun(2);
  run.judge.relative_tolerance = std::numeric_limits<double>::infinity();
  EXPECT_NE(Refusal(run).find("spec.compare.relativeTolerance"), std::string::npos);
  run.judge.relative_tolerance = std::nan("");
  EXPECT_NE(Refusal(run).find("spec.compare.relativeTolerance"), std::string::npos);
}

}  // namespace
}  // namespace coderun::reconcile
