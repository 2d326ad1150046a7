#include "plugin/outcome.h"

#include "gmock/gmock.h"
#include "gtest/gtest.h"

namespace coderun::plugin {
namespace {

using ::testing::HasSubstr;

json Finished(const std::string& phase, const std::string& reason, json extra = json::object()) {
  json status = {{"phase", phase}, {"reason", reason}};
  status.update(extra);
  return {{"metadata", {{"name", "r"}}}, {"status", status}};
}

TEST(OutcomeTest, ExitCodesMeanWhatAShellExpects) {
  EXPECT_EQ(ExitCodeFor(Finished("Succeeded", "Completed", {{"exitCode", 0}})), 0);
  EXPECT_EQ(ExitCodeFor(Finished("Failed", "NonZeroExit", {{"exitCode", 3}})), 3);
  EXPECT_EQ(ExitCodeFor(Finished("Failed", "TimeLimitExceeded")), kExitTimeLimit);
  EXPECT_EQ(ExitCodeFor(Finished("Failed", "MemoryLimitExceeded")), 137);
  EXPECT_EQ(ExitCodeFor(Finished("Failed", "Killed", {{"signal", 11}})), 139);
  EXPECT_EQ(ExitCodeFor(Finished("Failed", "InvalidSpec")), kExitInvalidSpec);
  EXPECT_EQ(ExitCodeFor(Finished("Failed", "PodFailed")), kExitCouldNotRun);
  EXPECT_EQ(ExitCodeFor(Finished("Failed", "QueueTimeout")), kExitCouldNotRun);
  // A judge run: every case Accepted, or not.
  EXPECT_EQ(ExitCodeFor(Finished("Succeeded", "Completed",
                                 {{"verdict", "Accepted"}, {"testsTotal", 2}})), 0);
  EXPECT_EQ(ExitCodeFor(Finished("Succeeded", "Completed",
                                 {{"verdict", "TimeLimitExceeded"}, {"testsTotal", 2}})),
            kExitTestsFailed);
  // Nothing this version does not know is ever a success.
  EXPECT_EQ(ExitCodeFor(Finished("Failed", "SomethingNew")), kExitCouldNotRun);
  EXPECT_EQ(ExitCodeFor(Finished("Failed", "NonZeroExit", {{"exitCode", 0}})), kExitCouldNotRun);
}

TEST(OutcomeTest, OnlyTerminalPhasesAreFinished) {
  EXPECT_TRUE(IsFinished(Finished("Succeeded", "Completed")));
  EXPECT_TRUE(IsFinished(Finished("Failed", "PodFailed")));
  EXPECT_FALSE(IsFinished(Finished("Running", "Running")));
  EXPECT_FALSE(IsFinished(json{{"metadata", {{"name", "r"}}}}));
}

TEST(OutcomeTest, NotesOnlyForEndingsTheProgramDidNotChoose) {
  EXPECT_EQ(EndingNote(Finished("Succeeded", "Completed")), "");
  EXPECT_EQ(EndingNote(Finished("Failed", "NonZeroExit", {{"exitCode", 1}})), "");
  EXPECT_EQ(EndingNote(Finished("Failed", "TimeLimitExceeded", {{"message", "ran 2 s"}})),
            "time limit exceeded: ran 2 s");
  EXPECT_THAT(EndingNote(Finished("Failed", "Killed", {{"signal", 9}})), HasSubstr("signal 9"));
  EXPECT_THAT(EndingNote(Finished("Failed", "QueueTimeout")), HasSubstr("QueueTimeout"));
}

TEST(OutcomeTest, ProgressSaysWhereTheRunIs) {
  EXPECT_EQ(ProgressLine(json::object()), "");
  EXPECT_EQ(ProgressLine(Finished("Pending", "Queued", {{"queuePosition", 3}})),
            "Pending: Queued (position 3)");
  EXPECT_EQ(ProgressLine(Finished("Running", "Running")), "Running");
  EXPECT_EQ(ProgressLine(Finished("Pending", "Unschedulable", {{"message", "0/1 nodes"}})),
            "Pending: Unschedulable: 0/1 nodes");
}

}  // namespace
}  // namespace coderun::plugin
