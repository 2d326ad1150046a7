// The runner as in a Pod: PID 1 of its own PID namespace, under a non-root UID that the
// program shares. Needs root to create the namespace and switch UID (unshare, setpriv);
// skipped otherwise.
#include <signal.h>
#include <unistd.h>

#include <gtest/gtest.h>

#include "runner/testing/runner_test_util.h"

namespace coderun::runner {
namespace {

using api::Limit;
using testing::RunInput;
using testing::RunRunner;

class RunnerPid1Test : public ::testing::Test {
 protected:
  void SetUp() override {
    if (geteuid() != 0) GTEST_SKIP() << "needs root for unshare --pid and setpriv";
    if (access("/usr/bin/python3", X_OK) != 0) GTEST_SKIP() << "needs /usr/bin/python3";
    if (system("unshare --pid --fork --mount-proc true >/dev/null 2>&1") != 0) {
      GTEST_SKIP() << "cannot create a PID namespace here";
    }
  }

  // A UID of its own per test process, so parallel tests do not share RLIMIT_NPROC counts.
  static RunInput Pid1(std::string code) {
    const std::string uid = std::to_string(200000 + getpid() % 100000);
    RunInput in{.code = std::move(code)};
    in.python = "/usr/bin/python3";
    in.wrapper = {"unshare",     "--pid",     "--fork",          "--mount-proc",
                  "--kill-child", "setpriv",  "--reuid=" + uid,  "--regid=" + uid,
                  "--clear-groups", "--inh-caps=-all"};
    return in;
  }
};

TEST_F(RunnerPid1Test, ProgramCannotForgeOrStopTheReport) {
  auto out = RunRunner(Pid1(
      "import os, signal, sys\n"
      "print(os.getppid())\n"
      "frame = b'coderun-report/v1 2\\n{}\\ncoderun-report-end\\n'\n"
      "for path in ('/proc/1/fd/1', '/proc/1/fd/2'):\n"
      "    try:\n"
      "        open(path, 'wb').write(frame); print('wrote', path)\n"
      "    except OSError as e:\n"
      "        print(type(e).__name__)\n"
      "for s in (signal.SIGTERM, signal.SIGINT, signal.SIGHUP, signal.SIGKILL, signal.SIGSTOP):\n"
      "    try:\n"
      "        os.kill(1, s)\n"
      "    except PermissionError:\n"
      "        pass  # Landlock's signal scope, where the kernel has it\n"
      "if os.fork() == 0:\n"
      "    os.setsid()\n"
      "    import time; time.sleep(0.3)\n"
      "    try: open('/proc/1/fd/1', 'wb').write(frame)\n"
      "    except OSError: pass\n"
      "    os._exit(0)\n"
      "print('done')\n"));
  ASSERT_TRUE(out.report) << out.parse_error << "\n" << out.log;
  EXPECT_EQ(out.report->stdout_text, "1\nPermissionError\nPermissionError\ndone\n")
      << out.report->stderr_text;
  EXPECT_EQ(out.report->exit_code, 0);
  EXPECT_EQ(out.report->limit, Limit::kNone);
  EXPECT_LT(out.seconds, 30);  // far below the program's own sleeps: not a timing test
}

// A SIGTERM whose si_pid the kernel leaves 0 though it comes from inside: through SIGIO
// (F_SETOWN + F_SETSIG + O_ASYNC) or rt_sigqueueinfo with a hand-made siginfo. Without
// Landlock (whose signal scope refuses both) only the runner's check of si_code stands.
std::string ForgeStopToPid1(const std::string& how) {
  std::string code = "import ctypes, fcntl, os, signal, time\n";
  if (how == "sigio") {
    code += "r, w = os.pipe()\n"
            "fcntl.fcntl(r, fcntl.F_SETOWN, 1)\n"
            "fcntl.fcntl(r, 10, signal.SIGTERM)  # F_SETSIG\n"
            "fcntl.fcntl(r, fcntl.F_SETFL, fcntl.fcntl(r, fcntl.F_GETFL) | os.O_ASYNC)\n"
            "os.write(w, b'x')\n";
  } else {
    code += "libc = ctypes.CDLL(None, use_errno=True)\n"
            "info = (ctypes.c_int * 32)()\n"
            "info[0], info[2] = signal.SIGTERM, -1  # si_code SI_QUEUE, si_pid 0\n"
            "print(libc.syscall(129, 1, signal.SIGTERM, info))  # rt_sigqueueinfo\n";
  }
  return code + "time.sleep(1.5)\nprint('still here')\nraise SystemExit(3)\n";
}

TEST_F(RunnerPid1Test, ForgedStopSignalsDoNotEndTheRun) {
  for (const char* how : {"sigio", "sigqueueinfo"}) {
    for (const char* landlock : {"--landlock=off", "--landlock=auto"}) {
      RunInput in = Pid1(ForgeStopToPid1(how));
      in.extra_flags = {landlock};
      auto out = RunRunner(in);
      ASSERT_TRUE(out.report) << how << landlock << ": " << out.parse_error << "\n" << out.log;
      EXPECT_EQ(out.report->limit, Limit::kNone) << how << " " << landlock;
      EXPECT_EQ(out.report->exit_code, 3) << how << " " << landlock << out.report->stderr_text;
      EXPECT_NE(out.report->stdout_text.find("still here\n"), std::string::npos)
          << how << " " << landlock;
    }
  }
}

TEST_F(RunnerPid1Test, ProcOfTheRunnerIsClosedToTheProgram) {
  // Its memory, environment and fds; and a symlink in /tmp does not open the way.
  auto out = RunRunner(Pid1("import errno, os\n"
                            "os.symlink('/proc/1/mem', '/tmp/coderun-mem-%d' % os.getpid())\n"
                            "for path, mode in (\n"
                            "        ('/proc/1/mem', 'r+b'), ('/proc/1/mem', 'rb'),\n"
                            "        ('/proc/1/environ', 'rb'), ('/proc/1/fd/1', 'wb'),\n"
                            "        ('/tmp/coderun-mem-%d' % os.getpid(), 'r+b')):\n"
                            "    try:\n"
                            "        open(path, mode).close(); print(path, 'opened')\n"
                            "    except OSError as e:\n"
                            "        print(errno.errorcode[e.errno])\n"
                            "os.remove('/tmp/coderun-mem-%d' % os.getpid())\n"));
  ASSERT_TRUE(out.report) << out.parse_error << "\n" << out.log;
  EXPECT_EQ(out.report->stdout_text, "EACCES\nEACCES\nEACCES\nEACCES\nEACCES\n")
      << out.report->stderr_text;
  EXPECT_EQ(out.report->exit_code, 0);
}

TEST_F(RunnerPid1Test, PidsLimitStopsAForkLoop) {
  RunInput in = Pid1("import os, time\nn = 0\ntry:\n"
                     "    while True:\n"
                     "        if os.fork() == 0:\n"
                     "            time.sleep(100)\n"
                     "        n += 1\n"
                     "except OSError as e:\n"
                     "    print('stopped after', n, type(e).__name__)\n");
  in.pids = 10;
  auto out = RunRunner(in);
  ASSERT_TRUE(out.report) << out.parse_error << "\n" << out.log;
  // The runner and the program count too: 8 more processes at most.
  EXPECT_EQ(out.report->stdout_text, "stopped after 8 BlockingIOError\n")
      << out.report->stderr_text;
  EXPECT_LT(out.seconds, 30);  // far below the program's own sleeps: not a timing test
}

TEST_F(RunnerPid1Test, TimeoutKillsEveryProcessOfTheNamespace) {
  RunInput in = Pid1("import os, time\n"
                     "for _ in range(3):\n"
                     "    if os.fork() == 0:\n"
                     "        os.setsid()\n"
                     "        if os.fork() == 0: time.sleep(1000)\n"
                     "        os._exit(0)\n"
                     "print('sleeping', flush=True)\n"
                     "time.sleep(1000)\n");
  in.timeout_seconds = 1;
  auto out = RunRunner(in);
  ASSERT_TRUE(out.report) << out.parse_error << "\n" << out.log;
  EXPECT_EQ(out.report->limit, Limit::kTime);
  EXPECT_EQ(out.report->stdout_text, "sleeping\n");
  EXPECT_EQ(out.report->runner_message.find("could not be reaped"), std::string::npos);
  EXPECT_EQ(out.report->runner_message.find("still open"), std::string::npos);
  EXPECT_LT(out.seconds, 30);  // far below the program's own sleeps: not a timing test
}

}  // namespace
}  // namespace coderun::runner
