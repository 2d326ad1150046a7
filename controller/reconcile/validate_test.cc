#include "reconcile/validate.h"

#include <gtest/gtest.h>

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

}  // namespace
}  // namespace coderun::reconcile
