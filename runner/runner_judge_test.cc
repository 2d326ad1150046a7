// Judge mode end to end in the runner binary (no cluster): each case runs with its own
// stdin, args and time limit, in a fresh process tree, and finds none of what an earlier
// case left in the writable directory; each case's result is out as the case ends.
#include <signal.h>
#include <sys/wait.h>
#include <unistd.h>

#include <fstream>

#include <gtest/gtest.h>

#include "api/input_digest.h"
#include "runner/input.h"
#include "runner/testing/runner_test_util.h"

namespace coderun::runner {
namespace {

using api::Limit;
using testing::GoneWithin;
using testing::RunInput;
using testing::RunRunner;
using testing::TempDir;

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
  EXPECT_EQ(ok.report->input_digest, digest);
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

constexpr char kFourCases[] = R"([
    {"name": "a", "stdin": "1\n", "args": [], "timeoutSeconds": 5},
    {"name": "b", "stdin": "2\n", "args": [], "timeoutSeconds": 5},
    {"name": "c", "stdin": "3\n", "args": ["x"], "timeoutSeconds": 5},
    {"name": "d", "stdin": "4\n", "args": [], "timeoutSeconds": 5}])";

std::vector<std::string> Names(const std::vector<api::CaseReport>& cases) {
  std::vector<std::string> names;
  for (const api::CaseReport& c : cases) names.push_back(c.name);
  return names;
}

TEST(RunnerJudgeTest, FirstCaseRunsOnlyTheCasesFromThereOn) {
  auto out = RunRunner({.code = kEcho, .extra_flags = {"--first-case=2"},
                        .tests_json = kFourCases});
  ASSERT_TRUE(out.report) << out.parse_error << "\n" << out.log;
  EXPECT_EQ(out.report->runner_error, "");
  EXPECT_EQ(Names(out.report->tests), (std::vector<std::string>{"c", "d"}));
  EXPECT_EQ(out.report->tests[0].stdout_text, "3 ['x']\n");
  EXPECT_EQ(out.report->tests[1].stdout_text, "4 []\n");
  // The top level sums up the cases this runner ran.
  EXPECT_EQ(out.report->wall_millis,
            out.report->tests[0].wall_millis + out.report->tests[1].wall_millis);

  auto last = RunRunner({.code = kEcho, .extra_flags = {"--first-case=3"},
                         .tests_json = kFourCases});
  ASSERT_TRUE(last.report) << last.parse_error << "\n" << last.log;
  EXPECT_EQ(Names(last.report->tests), (std::vector<std::string>{"d"}));
}

TEST(RunnerJudgeTest, FirstCaseBeyondTheCasesIsARunnerError) {
  for (const char* flag : {"--first-case=4", "--first-case=1000"}) {
    auto out = RunRunner({.code = kEcho,
                          .extra_flags = {flag}, .tests_json = kFourCases});
    ASSERT_TRUE(out.report) << out.parse_error << "\n" << out.log;
    EXPECT_EQ(out.report->runner_error,
              std::string(flag) + ": tests.json has only 4 cases");
    EXPECT_TRUE(out.report->tests.empty());
    EXPECT_TRUE(out.log.starts_with(api::kReportHeader)) << out.log;
    EXPECT_TRUE(WIFEXITED(out.wait_status) && WEXITSTATUS(out.wait_status) == 2);
  }
}

TEST(RunnerJudgeTest, TheLogIsACaseFramePerCaseThenTheReportWithoutTests) {
  auto out = RunRunner({.code = kEcho, .tests_json = kFourCases});
  ASSERT_TRUE(out.report) << out.parse_error << "\n" << out.log;
  ASSERT_EQ(Names(out.report->tests), (std::vector<std::string>{"a", "b", "c", "d"}));
  std::string expected;
  for (const api::CaseReport& c : out.report->tests) expected += api::FormatCase(c);
  ASSERT_TRUE(out.log.starts_with(expected)) << out.log;
  const std::string report_frame = out.log.substr(expected.size());
  EXPECT_TRUE(report_frame.starts_with(api::kReportHeader)) << report_frame;
  EXPECT_EQ(report_frame.find("\"tests\""), std::string::npos) << report_frame;
  EXPECT_EQ(api::ParseCases(out.log), out.report->tests);

  // A plain run's log is still the report frame alone.
  auto plain = RunRunner({.code = "print(1)\n"});
  ASSERT_TRUE(plain.report) << plain.parse_error;
  EXPECT_TRUE(plain.log.starts_with(api::kReportHeader));
  EXPECT_EQ(plain.log, api::FormatReport(*plain.report));
}

TEST(RunnerJudgeTest, ARunnerKilledInACaseLeavesTheResultsOfTheCasesBeforeIt) {
  // cgroup v2's memory.oom.group kills the whole container, the runner included, when one
  // case runs out of memory. Here the runner is SIGKILLed while case 3 runs: cases 0..2
  // must be in the log already, complete, for the controller to judge.
  TempDir marker_dir;
  const std::string marker = marker_dir.path() + "/running";
  const std::string code = std::string(R"(import os, sys, time
if len(sys.argv) > 1 and sys.argv[1] == "hang":
    with open(")") + marker + R"(.tmp", "w") as f:
        f.write(str(os.getpid()))
    os.rename(")" + marker + R"(.tmp", ")" + marker + R"(")
    time.sleep(60)
)" + kEcho;
  RunInput in{.code = code,
              // Where the program may leave its marker (Landlock allows nothing else).
              .extra_flags = {"--writable-dir=" + marker_dir.path()},
              .tests_json = R"([
      {"name": "ok", "stdin": "abc\n", "args": [], "timeoutSeconds": 5},
      {"name": "crashes", "stdin": "", "args": ["crash"], "timeoutSeconds": 5},
      {"name": "spins", "stdin": "", "args": ["spin"], "timeoutSeconds": 1},
      {"name": "dies-here", "stdin": "", "args": ["hang"], "timeoutSeconds": 30},
      {"name": "never", "stdin": "z\n", "args": [], "timeoutSeconds": 5}])"};
  // Case 3 has started, so the runner has written the frames of 0..2 (it writes a case's
  // frame before the next case starts).
  in.on_start = [&marker](pid_t runner) {
    const auto until = std::chrono::steady_clock::now() + std::chrono::seconds(20);
    while (access(marker.c_str(), F_OK) != 0 && std::chrono::steady_clock::now() < until) {
      usleep(5000);  // polling interval
    }
    kill(runner, SIGKILL);
  };
  auto out = RunRunner(in);
  // The orphaned program of case 3 is this test's to end.
  pid_t program = 0;
  std::ifstream(marker) >> program;
  if (program > 0) {
    kill(-program, SIGKILL);
    kill(program, SIGKILL);
    EXPECT_TRUE(GoneWithin(program, std::chrono::seconds(5)));
  }
  ASSERT_GT(program, 0) << "case 3 never started:\n" << out.log;
  EXPECT_TRUE(WIFSIGNALED(out.wait_status) && WTERMSIG(out.wait_status) == SIGKILL);

  EXPECT_FALSE(out.report);
  EXPECT_EQ(out.parse_error, "log ends after 3 case frames, without a report");
  const std::vector<api::CaseReport> cases = api::ParseCases(out.log);
  ASSERT_EQ(Names(cases), (std::vector<std::string>{"ok", "crashes", "spins"})) << out.log;
  EXPECT_EQ(cases[0].exit_code, 0);
  EXPECT_EQ(cases[0].signal, 0);
  EXPECT_EQ(cases[0].limit, Limit::kNone);
  EXPECT_EQ(cases[0].stdout_text, "cba []\n");
  EXPECT_FALSE(cases[0].stdout_truncated);
  EXPECT_EQ(cases[1].exit_code, 1);
  EXPECT_EQ(cases[1].limit, Limit::kNone);
  EXPECT_NE(cases[1].stderr_text.find("ValueError: boom"), std::string::npos);
  EXPECT_EQ(cases[2].limit, Limit::kTime);
  EXPECT_EQ(cases[2].signal, SIGKILL);
  EXPECT_GE(cases[2].wall_millis, 1000u);
  // Nothing but complete frames: the log is exactly the three cases' frames.
  EXPECT_EQ(out.log, api::FormatCase(cases[0]) + api::FormatCase(cases[1]) +
                         api::FormatCase(cases[2]));
}

}  // namespace
}  // namespace coderun::runner
