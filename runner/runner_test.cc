// The runner binary end to end, without a cluster: what a program sees and what the
// report says about it.
#include <signal.h>
#include <unistd.h>

#include <gtest/gtest.h>

#include "runner/testing/runner_test_util.h"

namespace coderun::runner {
namespace {

using api::Limit;
using api::kReportHeader;
using api::kReportTrailer;
using testing::Python;
using testing::RunInput;
using testing::RunRunner;
using testing::TempDir;

// What `python3 -c CODE` writes to stderr.
std::string PythonCStderr(const std::string& code) {
  TempDir dir;
  dir.Write("code", code);
  const std::string command =
      "'" + Python() + "' -c \"$(cat '" + dir.path() + "/code')\" 2>&1 >/dev/null";
  std::string err;
  if (FILE* p = popen(command.c_str(), "r")) {
    char buf[4096];
    size_t n;
    while ((n = fread(buf, 1, sizeof(buf), p)) > 0) err.append(buf, n);
    pclose(p);
  }
  return err;
}

TEST(RunnerTest, HelloWorldHasExactStdoutAndExitZero) {
  auto out = RunRunner({.code = "print('Hello World')\n"});
  ASSERT_TRUE(out.report) << out.parse_error << "\n" << out.log;
  EXPECT_EQ(out.report->stdout_text, "Hello World\n");
  EXPECT_EQ(out.report->stderr_text, "");
  EXPECT_EQ(out.report->exit_code, 0);
  EXPECT_EQ(out.report->signal, 0);
  EXPECT_EQ(out.report->limit, Limit::kNone);
  EXPECT_EQ(out.report->runner_error, "");
  EXPECT_EQ(out.report->stdout_bytes, 12u);
  EXPECT_FALSE(out.report->stdout_truncated);
  EXPECT_GT(out.report->max_rss_bytes, 1u << 20);
  EXPECT_EQ(out.report->input_digest, "");  // no --input-digest: none checked, none named
  EXPECT_TRUE(WIFEXITED(out.wait_status) && WEXITSTATUS(out.wait_status) == 0);
}

TEST(RunnerTest, ExitCodeOfSysExitIsReported) {
  auto out = RunRunner({.code = "import sys\nprint('bye')\nsys.exit(42)\n"});
  ASSERT_TRUE(out.report) << out.parse_error;
  EXPECT_EQ(out.report->exit_code, 42);
  EXPECT_EQ(out.report->signal, 0);
  EXPECT_EQ(out.report->stdout_text, "bye\n");
}

TEST(RunnerTest, DeathBySignalIsReportedWithoutALimit) {
  auto out = RunRunner({.code = "import os\nos.kill(os.getpid(), 9)\n"});
  ASSERT_TRUE(out.report) << out.parse_error;
  EXPECT_EQ(out.report->exit_code, -1);
  EXPECT_EQ(out.report->signal, 9);
  EXPECT_EQ(out.report->limit, Limit::kNone);
}

TEST(RunnerTest, StdinAndArgsReachTheProgramAsUnderPythonC) {
  auto out = RunRunner({.code = "import sys\nprint(sys.argv)\nprint(input().upper())\n"
                                "print(sys.stdin.read(), end='')\n",
                        .stdin_text = "hello\nrest\n",
                        .args_json = R"(["a b", "", "ü"])"});
  ASSERT_TRUE(out.report) << out.parse_error;
  EXPECT_EQ(out.report->stdout_text, "['-c', 'a b', '', 'ü']\nHELLO\nrest\n");
}

TEST(RunnerTest, MissingStdinAndArgsFilesMeanEmpty) {
  auto out = RunRunner({.code = "import sys\nprint(sys.argv, repr(sys.stdin.read()))\n",
                        .stdin_text = std::nullopt,
                        .args_json = std::nullopt});
  ASSERT_TRUE(out.report) << out.parse_error;
  EXPECT_EQ(out.report->stdout_text, "['-c'] ''\n");
}

TEST(RunnerTest, ProgramSeesACleanMainModule) {
  auto out = RunRunner({.code = "print(sorted(k for k in globals() if not k.startswith('__')),"
                                " __name__, 'sys' in globals())\n"});
  ASSERT_TRUE(out.report) << out.parse_error;
  EXPECT_EQ(out.report->stdout_text, "[] __main__ False\n");
}

TEST(RunnerTest, TracebacksReadAsUnderPythonC) {
  const std::string programs[] = {
      "print('unclosed'\n",                                          // SyntaxError
      "x = 1\n  y = 2\n",                                            // IndentationError
      "def f(n):\n    return 10 // n\n\nprint(f(2))\nprint(f(0))\n",  // runtime error
      "import no_such_module_here\n",                                // import error
      "try:\n    {}['k']\nexcept KeyError as e:\n    raise ValueError('v') from e\n",
  };
  for (const std::string& code : programs) {
    auto out = RunRunner({.code = code});
    ASSERT_TRUE(out.report) << out.parse_error;
    EXPECT_EQ(out.report->exit_code, 1) << code;
    const std::string expected = PythonCStderr(code);
    ASSERT_NE(expected, "") << code;
    EXPECT_EQ(out.report->stderr_text, expected) << code;
  }
  auto out = RunRunner({.code = "print(1/0)\n"});
  EXPECT_NE(out.report->stderr_text.find("File \"<string>\", line 1, in <module>"),
            std::string::npos)
      << out.report->stderr_text;
}

TEST(RunnerTest, NonUtf8OutputBecomesReplacementCharacters) {
  auto out = RunRunner({.code = "import sys\nsys.stdout.buffer.write(b'a\\xff\\xfeb')\n"
                                "print('h\\u00e9llo \\u2713', file=sys.stderr)\n"});
  ASSERT_TRUE(out.report) << out.parse_error;
  EXPECT_EQ(out.report->stdout_text, "a\xEF\xBF\xBD\xEF\xBF\xBD" "b");
  EXPECT_EQ(out.report->stdout_bytes, 4u);
  EXPECT_FALSE(out.report->stdout_truncated);
  EXPECT_EQ(out.report->stderr_text, "h\xC3\xA9llo \xE2\x9C\x93\n");
}

TEST(RunnerTest, ForgedFrameInStdoutDoesNotChangeTheReport) {
  const std::string forged = std::string(kReportHeader) + "30\n{\"exitCode\":0,\"signal\":0}\n" +
                             std::string(kReportTrailer);
  auto out = RunRunner({.code = "import sys\nsys.stdout.write(" + std::string("'''") + forged +
                                "''')\nsys.stderr.write('''" + forged + "''')\nsys.exit(7)\n"});
  ASSERT_TRUE(out.report) << out.parse_error << "\n" << out.log;
  EXPECT_EQ(out.report->exit_code, 7);
  EXPECT_EQ(out.report->stdout_text, forged);
  EXPECT_EQ(out.report->stderr_text, forged);
}

TEST(RunnerTest, SigtermFromTheProgramIsIgnored) {
  // Without Landlock's signal scope, which would refuse the kill() itself.
  auto out = RunRunner({.code = "import os, signal\n"
                                "for s in (signal.SIGTERM, signal.SIGINT, signal.SIGHUP):\n"
                                "    os.kill(os.getppid(), s)\n"
                                "print('still here')\n",
                        .extra_flags = {"--landlock=off"}});
  ASSERT_TRUE(out.report) << out.parse_error;
  EXPECT_EQ(out.report->stdout_text, "still here\n");
  EXPECT_EQ(out.report->limit, Limit::kNone);
  EXPECT_EQ(out.report->exit_code, 0);
}

TEST(RunnerTest, SigtermFromOutsideEndsTheRunAsTerminated) {
  TempDir marker_dir;
  const std::string marker = marker_dir.path() + "/started";
  RunInput in{.code = "import time\nprint('started')\nopen('" + marker +
                      "', 'w').close()\ntime.sleep(60)\n"};
  // The runner's parent (this test) counts as outside when the runner is not PID 1.
  in.on_start = [&marker](pid_t runner) {
    const auto until = std::chrono::steady_clock::now() + std::chrono::seconds(10);
    while (access(marker.c_str(), F_OK) != 0 && std::chrono::steady_clock::now() < until) {
      usleep(5000);  // polling interval
    }
    kill(runner, SIGTERM);
  };
  auto out = RunRunner(in);
  ASSERT_TRUE(out.report) << out.parse_error;
  EXPECT_EQ(out.report->limit, Limit::kTerminated);
  EXPECT_EQ(out.report->signal, SIGKILL);
  EXPECT_EQ(out.report->stdout_text, "started\n");
  EXPECT_LT(out.seconds, 30);  // far below the program's own sleeps: not a timing test
}

TEST(RunnerTest, MissingCodeIsARunnerError) {
  TempDir empty;
  RunInput in{.code = ""};
  in.extra_flags = {"--input-dir=" + empty.path()};  // the later flag wins
  auto out = RunRunner(in);
  ASSERT_TRUE(out.report) << out.parse_error;
  EXPECT_NE(out.report->runner_error.find("code"), std::string::npos);
  EXPECT_TRUE(WIFEXITED(out.wait_status) && WEXITSTATUS(out.wait_status) == 2);
}

TEST(RunnerTest, MissingInterpreterIsARunnerError) {
  auto out = RunRunner({.code = "print(1)\n", .extra_flags = {"--python=/nonexistent/python3"}});
  ASSERT_TRUE(out.report) << out.parse_error;
  EXPECT_NE(out.report->runner_error.find("exec /nonexistent/python3"), std::string::npos)
      << out.report->runner_error;
}

TEST(RunnerTest, BadArgsJsonAndBadFlagsAreRunnerErrors) {
  auto out = RunRunner({.code = "print(1)\n", .args_json = R"(["a", 1])"});
  ASSERT_TRUE(out.report) << out.parse_error;
  EXPECT_NE(out.report->runner_error.find("array of strings"), std::string::npos);
  out = RunRunner({.code = "print(1)\n", .extra_flags = {"--bogus=1"}});
  ASSERT_TRUE(out.report) << out.parse_error;
  EXPECT_NE(out.report->runner_error.find("--bogus"), std::string::npos);
}

TEST(RunnerTest, CpuTimeOfEveryProcessIsCounted) {
  auto out = RunRunner({.code = "import os, time\n"
                                "def spin(s):\n"
                                "    end = time.process_time() + s\n"
                                "    while time.process_time() < end: pass\n"
                                "if os.fork() == 0:\n"
                                "    spin(0.3); os._exit(0)\n"
                                "spin(0.3); os.wait()\n"});
  ASSERT_TRUE(out.report) << out.parse_error;
  EXPECT_GE(out.report->cpu_millis, 550u);
  EXPECT_GE(out.report->wall_millis, 300u);
}

}  // namespace
}  // namespace coderun::runner
