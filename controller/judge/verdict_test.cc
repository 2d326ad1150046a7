#include "judge/verdict.h"

#include "gtest/gtest.h"

namespace coderun::judge {
namespace {

CaseRun Exited(int code) { return CaseRun{api::Limit::kNone, code, 0, false}; }

TEST(VerdictTest, LimitsComeFirstThenOutputThenCrashesThenTheAnswer) {
  EXPECT_EQ(VerdictFor(Exited(0), true), Verdict::kAccepted);
  EXPECT_EQ(VerdictFor(Exited(0), false), Verdict::kWrongAnswer);
  EXPECT_EQ(VerdictFor(Exited(1), true), Verdict::kRuntimeError);
  EXPECT_EQ(VerdictFor({api::Limit::kNone, -1, 11, false}, true), Verdict::kRuntimeError);
  EXPECT_EQ(VerdictFor({api::Limit::kNone, 0, 0, true}, true), Verdict::kOutputLimitExceeded);
  EXPECT_EQ(VerdictFor({api::Limit::kNone, 1, 0, true}, false), Verdict::kOutputLimitExceeded);
  // Killed at the limit: the signal and the partial output do not matter.
  EXPECT_EQ(VerdictFor({api::Limit::kTime, -1, 9, true}, false), Verdict::kTimeLimitExceeded);
  EXPECT_EQ(VerdictFor({api::Limit::kMemory, -1, 9, false}, true), Verdict::kMemoryLimitExceeded);
  EXPECT_EQ(VerdictFor({api::Limit::kTerminated, -1, 15, false}, true), Verdict::kSkipped);
}

TEST(VerdictTest, OverallIsAcceptedOnlyWhenEveryCaseIs) {
  using V = Verdict;
  EXPECT_EQ(OverallVerdict({V::kAccepted, V::kAccepted}), V::kAccepted);
  EXPECT_EQ(OverallVerdict({V::kAccepted, V::kWrongAnswer, V::kTimeLimitExceeded}), V::kWrongAnswer);
  EXPECT_EQ(OverallVerdict({V::kAccepted, V::kRuntimeError, V::kSkipped}), V::kRuntimeError);
  EXPECT_EQ(OverallVerdict({V::kAccepted, V::kSkipped}), V::kSkipped);
  EXPECT_EQ(OverallVerdict({}), V::kSkipped);
}

TEST(VerdictTest, NamesRoundTrip) {
  for (Verdict v : {Verdict::kAccepted, Verdict::kWrongAnswer, Verdict::kTimeLimitExceeded,
                    Verdict::kMemoryLimitExceeded, Verdict::kRuntimeError,
                    Verdict::kOutputLimitExceeded, Verdict::kSkipped}) {
    EXPECT_EQ(ParseVerdict(VerdictName(v)), v);
  }
  EXPECT_EQ(ParseVerdict("accepted"), std::nullopt);
}

TEST(VerdictTest, OutputIsSharedFairlyAndStaysBounded) {
  EXPECT_EQ(CaseOutputShare(65536, 0), 65536u);
  EXPECT_EQ(CaseOutputShare(65536, 1), 32768u);
  EXPECT_EQ(CaseOutputShare(65536, 16), 2048u);
  EXPECT_EQ(CaseOutputShare(65536, 256), 256u);   // the floor
  EXPECT_EQ(CaseOutputShare(1000, 256), 256u);
  // Every case's two streams together stay within max(outputBytes, cases * 2 * floor).
  for (size_t cases : {1, 3, 7, 100, 256}) {
    for (size_t bytes : {0, 100, 65536, 262144}) {
      EXPECT_LE(cases * 2 * CaseOutputShare(bytes, cases),
                std::max(bytes, cases * 2 * kMinCaseOutputBytes))
          << cases << " " << bytes;
    }
  }
}

}  // namespace
}  // namespace coderun::judge
