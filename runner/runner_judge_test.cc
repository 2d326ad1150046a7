// Judge mode end to end in the runner binary (no cluster): each case runs with its own
// stdin, args and time limit, in a fresh process tree, and finds none of what an earlier
// case left in the writable directory.
#include <gtest/gtest.h>

#include "api/input_digest.h"
#include "runner/input.h"
#include "runner/testing/runner_test_util.h"

namespace coderun::runner {
namespace {

using api::Limit;
using testing::RunRunner;

constexpr char kEcho[] = R"(import sys, time
mode = sys.argv[1] if len(sys.argv) > 1 else ""
if mode == "spin":
    while True: pass
if mode == "crash":
    raise ValueError("boom")
print(input()[::-1], sys.argv[1:])
)";

TEST(RunnerJudgeTest, EachCaseRunsWithItsOwnStdinArgsAndTimeLimit) {
  auto out = RunRunner({.code = kEcho,
                        .timeout_seconds = 10,
                        .tests_json = R"([
      {"name": "first", "stdin": "abc\n", "args": [], "timeoutSeconds": 5},
      {"name": "second", "stdin": "xyz\n", "args": ["x", "y"], "timeoutSeconds": 5},
      {"name": "spins", "stdin": "", "args": ["spin"], "timeoutSeconds": 1},
      {"name": "crashes", "stdin": "", "args": ["crash"], "timeoutSeconds": 5},
      {"name": "last", "stdin": "z\n", "args": [], "timeoutSeconds": 5}])"});
  ASSERT_TRUE(out.report) << out.parse_error << "\n" << out.log;
  const api::Report& r = *out.report;
  EXPECT_EQ(r.runner_error, "");
  ASSERT_EQ(r.tests.size(), 5u) << out.log;
  EXPECT_EQ(r.tests[0].name, "first");
  EXPECT_EQ(r.tests[0].stdout_text, "cba []\n");
  EXPECT_EQ(r.tests[0].exit_code, 0);
  EXPECT_EQ(r.tests[1].stdout_text, "zyx ['x', 'y']\n");
  EXPECT_EQ(r.tests[2].limit, Limit::kTime);
  EXPECT_GE(r.tests[2].wall_millis, 1000u);
  EXPECT_LT(r.tests[2].wall_millis, 5000u);  // its own limit, not the run's 10 s
  EXPECT_EQ(r.tests[3].exit_code, 1);
  EXPECT_NE(r.tests[3].stderr_text.find("ValueError: boom"), std::string::npos);
  EXPECT_EQ(r.tests[4].stdout_text, "z []\n");  // the code is read afresh for each case
  // The run as a whole: no output of its own, usage summed.
  EXPECT_EQ(r.exit_code, 0);
  EXPECT_EQ(r.limit, Limit::kNone);
  EXPECT_EQ(r.stdout_text, "");
  EXPECT_GE(r.wall_millis, r.tests[2].wall_millis);
}

TEST(RunnerJudgeTest, NothingACaseLeavesBehindReachesTheNext) {
  // The first case leaves a process running, and files, a chmod 000 directory, a deep
  // tree and a symlink in the writable directory; the second looks for all of it.
  constexpr char kCode[] = R"(import os, subprocess, sys
scratch = sys.argv[1]
if sys.argv[2] == "litter":
    subprocess.Popen([sys.executable, "-c", "import time; time.sleep(60)  # leftover-marker"])
    open(os.path.join(scratch, "answer.txt"), "w").write("42")
    os.makedirs(os.path.join(scratch, "locked", "inner"))
    open(os.path.join(scratch, "locked", "inner", "f"), "w").write("x")
    os.chmod(os.path.join(scratch, "locked", "inner"), 0)
    os.chmod(os.path.join(scratch, "locked"), 0)
    d = os.open(scratch, os.O_RDONLY)
    for i in range(300):
        os.mkdir("d", dir_fd=d)
        nd = os.open("d", os.O_RDONLY, dir_fd=d)
        os.close(d)
        d = nd
    os.symlink(os.path.join(scratch, "preexisting"), os.path.join(scratch, "link"))
    print("littered")
else:
    found = []
    for pid in os.listdir("/proc"):
        try:
            if b"leftover-marker" in open(f"/proc/{pid}/cmdline", "rb").read():
                found.append(pid)
        except OSError:
            pass
    print(sorted(os.listdir(scratch)), found)
)";
  auto out = RunRunner({.code = kCode,
                        .tests_json = R"([
      {"name": "litter", "stdin": "", "args": ["@SCRATCH@", "litter"], "timeoutSeconds": 10},
      {"name": "look", "stdin": "", "args": ["@SCRATCH@", "look"], "timeoutSeconds": 10}])"});
  ASSERT_TRUE(out.report) << out.parse_error << "\n" << out.log;
  ASSERT_EQ(out.report->tests.size(), 2u) << out.log;
  EXPECT_EQ(out.report->tests[0].stdout_text, "littered\n") << out.report->tests[0].stderr_text;
  // Only what was there before the run; no process of the first case.
  EXPECT_EQ(out.report->tests[1].stdout_text, "['preexisting'] []\n")
      << out.report->tests[1].stderr_text << "\n" << out.report->runner_message;
}

TEST(RunnerJudgeTest, StopOnFailureRunsNoCaseAfterAFailedOne) {
  auto out = RunRunner({.code = kEcho,
                        .extra_flags = {"--stop-on-failure"},
                        .tests_json = R"([
      {"name": "a", "stdin": "1\n", "args": [], "timeoutSeconds": 5},
      {"name": "b", "stdin": "", "args": ["crash"], "timeoutSeconds": 5},
      {"name": "c", "stdin": "3\n", "args": [], "timeoutSeconds": 5}])"});
  ASSERT_TRUE(out.report) << out.parse_error << "\n" << out.log;
  ASSERT_EQ(out.report->tests.size(), 2u);
  EXPECT_EQ(out.report->tests[1].name, "b");
}

TEST(RunnerJudgeTest, EachCasesStdoutHasItsOwnCap) {
  auto out = RunRunner({.code = "print('x' * int(input()))\n",
                        .output_bytes = 100,
                        .extra_flags = {"--case-stdout-bytes=10"},
                        .tests_json = R"([
      {"name": "fits", "stdin": "5", "args": [], "timeoutSeconds": 5},
      {"name": "over", "stdin": "50", "args": [], "timeoutSeconds": 5}])"});
  ASSERT_TRUE(out.report) << out.parse_error << "\n" << out.log;
  ASSERT_EQ(out.report->tests.size(), 2u);
  EXPECT_EQ(out.report->tests[0].stdout_text, "xxxxx\n");
  EXPECT_FALSE(out.report->tests[0].stdout_truncated);
  EXPECT_EQ(out.report->tests[1].stdout_text, std::string(10, 'x'));
  EXPECT_TRUE(out.report->tests[1].stdout_truncated);
  EXPECT_EQ(out.report->tests[1].stdout_bytes, 51u);
}

TEST(RunnerJudgeTest, TheDigestCoversTheTests) {
  const std::string tests = R"([{"name":"a","stdin":"1\n","args":[],"timeoutSeconds":5}])";
  const std::string digest = api::InputDigest("n", kEcho, "", "[]", tests);
  auto ok = RunRunner({.code = kEcho, .nonce = "n", .extra_flags = {"--input-digest=" + digest},
                       .tests_json = tests});
  ASSERT_TRUE(ok.report) << ok.parse_error << "\n" << ok.log;
  EXPECT_EQ(ok.report->runner_error, "");
  ASSERT_EQ(ok.report->tests.size(), 1u);
  // Swapped tests (another stdin) do not run under that digest.
  std::string swapped = tests;
  swapped.replace(swapped.find("1\\n"), 3, "2\\n");
  auto refused = RunRunner({.code = kEcho, .nonce = "n",
                            .extra_flags = {"--input-digest=" + digest}, .tests_json = swapped});
  ASSERT_TRUE(refused.report) << refused.parse_error;
  EXPECT_EQ(refused.report->runner_error, kInputDigestMismatch);
  EXPECT_TRUE(refused.report->tests.empty());
}

TEST(RunnerJudgeTest, MalformedTestsAreARunnerError) {
  for (const char* bad : {"{}", "[]", R"([{"name":"a","stdin":"","args":[]}])",
                          R"([{"name":"","stdin":"","args":[],"timeoutSeconds":1}])",
                          R"([{"name":"a","stdin":"","args":[1],"timeoutSeconds":1}])"}) {
    auto out = RunRunner({.code = kEcho, .tests_json = bad});
    ASSERT_TRUE(out.report) << out.parse_error;
    EXPECT_NE(out.report->runner_error.find("tests.json"), std::string::npos) << bad;
    EXPECT_TRUE(out.report->tests.empty());
  }
}

}  // namespace
}  // namespace coderun::runner
