// The runner's walls: output caps, the timer, cleanup of processes that outlive the
// program, rlimits and the seccomp filter, through the real binary and python3.
#include <signal.h>
#include <unistd.h>

#include <gtest/gtest.h>

#include "runner/testing/runner_test_util.h"
#include "api/utf8.h"

namespace coderun::runner {
namespace {

using api::JsonEncodedSize;
using api::Limit;
using std::chrono::milliseconds;
using testing::GoneWithin;
using testing::RunRunner;
using testing::TempDir;

TEST(RunnerLimitsTest, FloodIsCutAtTheCapAndCountedInFull) {
  auto out = RunRunner({.code = "import sys\nfor _ in range(10):\n"
                                "    sys.stdout.write('x' * 1_000_000)\n"
                                "sys.stderr.write('e' * 5000)\n",
                        .output_bytes = 1024});
  ASSERT_TRUE(out.report) << out.parse_error;
  EXPECT_EQ(out.report->stdout_text, std::string(1024, 'x'));
  EXPECT_TRUE(out.report->stdout_truncated);
  EXPECT_EQ(out.report->stdout_bytes, 10'000'000u);
  EXPECT_EQ(out.report->stderr_text, std::string(1024, 'e'));
  EXPECT_TRUE(out.report->stderr_truncated);
  EXPECT_EQ(out.report->stderr_bytes, 5000u);
  EXPECT_EQ(out.report->exit_code, 0);
  EXPECT_LT(out.seconds, 30);  // far below the program's own sleeps: not a timing test
}

TEST(RunnerLimitsTest, CapCountsJsonEncodedSizeAndNeverSplitsACharacter) {
  // '"' takes 2 bytes encoded, '\x01' takes 6, '✓' 3.
  auto out = RunRunner({.code = "print('\"' * 10 + '\\x01' + '\\u2713' * 10)\n",
                        .output_bytes = 31});
  ASSERT_TRUE(out.report) << out.parse_error;
  EXPECT_EQ(out.report->stdout_text, std::string(10, '"') + "\x01" + "\xE2\x9C\x93");
  EXPECT_EQ(JsonEncodedSize(out.report->stdout_text), 29u);
  EXPECT_TRUE(out.report->stdout_truncated);
}

TEST(RunnerLimitsTest, OutputExactlyAtTheCapIsNotTruncated) {
  auto out = RunRunner({.code = "print('y' * 99)\n", .output_bytes = 101});
  ASSERT_TRUE(out.report) << out.parse_error;
  EXPECT_EQ(out.report->stdout_text, std::string(99, 'y') + "\n");  // "\n" encodes as 2
  EXPECT_FALSE(out.report->stdout_truncated);
}

TEST(RunnerLimitsTest, SleepingProgramTimesOutWithPartialOutput) {
  auto out = RunRunner({.code = "import time, sys\nprint('partial')\n"
                                "sys.stdout.write('no newline')\n"
                                "print('err', file=sys.stderr)\ntime.sleep(100)\n",
                        .timeout_seconds = 1});
  ASSERT_TRUE(out.report) << out.parse_error;
  EXPECT_EQ(out.report->limit, Limit::kTime);
  EXPECT_EQ(out.report->signal, SIGKILL);
  EXPECT_EQ(out.report->exit_code, -1);
  EXPECT_EQ(out.report->stdout_text, "partial\n");
  EXPECT_EQ(out.report->stderr_text, "err\n");
  EXPECT_GE(out.report->wall_millis, 1000u);
  EXPECT_LT(out.report->wall_millis, 20000u);  // the timer, not the 100 s sleep, ended it
  EXPECT_LT(out.seconds, 30);  // far below the program's own sleeps: not a timing test
}

TEST(RunnerLimitsTest, BusyLoopTimesOut) {
  auto out = RunRunner({.code = "print('spinning')\nwhile True:\n    pass\n",
                        .timeout_seconds = 1});
  ASSERT_TRUE(out.report) << out.parse_error;
  EXPECT_EQ(out.report->limit, Limit::kTime);
  EXPECT_EQ(out.report->stdout_text, "spinning\n");
  EXPECT_GE(out.report->cpu_millis, 50u);  // CPU of the run is counted (load may slow it)
  EXPECT_LT(out.seconds, 30);  // far below the program's own sleeps: not a timing test
}

TEST(RunnerLimitsTest, ChildThatOutlivesTheProgramIsKilledPromptly) {
  auto out = RunRunner({.code = "import os, sys, time\n"
                                "pid = os.fork()\n"
                                "if pid == 0:\n"
                                "    time.sleep(0.2)\n"
                                "    while True:\n"
                                "        print('child still writing', flush=True)\n"
                                "        time.sleep(0.01)\n"
                                "print(pid)\n"});
  ASSERT_TRUE(out.report) << out.parse_error;
  EXPECT_EQ(out.report->exit_code, 0);
  EXPECT_EQ(out.report->limit, Limit::kNone);
  EXPECT_LT(out.seconds, 30);  // far below the program's own sleeps: not a timing test
  const pid_t child = std::stoi(out.report->stdout_text);
  EXPECT_TRUE(GoneWithin(child, milliseconds(10000)));
}

TEST(RunnerLimitsTest, GrandchildInItsOwnSessionHoldingThePipesIsKilled) {
  auto out = RunRunner({.code = "import os, time\n"
                                "r, w = os.pipe()\n"
                                "if os.fork() == 0:\n"
                                "    os.setsid()\n"
                                "    if os.fork() == 0:\n"
                                "        os.write(w, str(os.getpid()).encode())\n"
                                "        time.sleep(1000)\n"
                                "    os._exit(0)\n"
                                "print(os.read(r, 20).decode())\n"});
  ASSERT_TRUE(out.report) << out.parse_error;
  EXPECT_EQ(out.report->exit_code, 0);
  EXPECT_LT(out.seconds, 30);  // far below the program's own sleeps: not a timing test
  const pid_t grandchild = std::stoi(out.report->stdout_text);
  EXPECT_TRUE(GoneWithin(grandchild, milliseconds(10000)));
}

TEST(RunnerLimitsTest, ForkStormEndsWithTheProgram) {
  auto out = RunRunner({.code = "import os\n"
                                "for _ in range(20):\n"
                                "    if os.fork() == 0:\n"
                                "        os.setsid()\n"
                                "        import time; time.sleep(1000)\n"
                                "print('parent done')\n",
                        .timeout_seconds = 5});
  ASSERT_TRUE(out.report) << out.parse_error;
  EXPECT_EQ(out.report->stdout_text, "parent done\n");
  EXPECT_LT(out.seconds, 30);  // far below the program's own sleeps: not a timing test
}

TEST(RunnerLimitsTest, SeccompRefusesInetSocketsButNotUnixSockets) {
  auto out = RunRunner({.code = "import socket, errno\n"
                                "for fam in (socket.AF_INET, socket.AF_INET6, socket.AF_NETLINK,"
                                " socket.AF_PACKET):\n"
                                "    try:\n"
                                "        socket.socket(fam, socket.SOCK_DGRAM)\n"
                                "        print('allowed', fam)\n"
                                "    except PermissionError as e:\n"
                                "        print('refused', errno.errorcode[e.errno])\n"
                                "a, b = socket.socketpair()\n"
                                "a.send(b'ok'); print(b.recv(2).decode())\n"
                                "u = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)\n"
                                "print('unix ok')\n"});
  ASSERT_TRUE(out.report) << out.parse_error;
  EXPECT_EQ(out.report->stdout_text,
            "refused EPERM\nrefused EPERM\nrefused EPERM\nrefused EPERM\nok\nunix ok\n")
      << out.report->stderr_text;
}

TEST(RunnerLimitsTest, SeccompRefusesNamespacesIoUringAndPtrace) {
  auto out = RunRunner({.code = "import ctypes, os, threading\n"
                                "libc = ctypes.CDLL(None, use_errno=True)\n"
                                "def err(rc): return rc, os.strerror(ctypes.get_errno())\n"
                                "print(err(libc.unshare(0x10000000)))\n"       // CLONE_NEWUSER
                                "print(err(libc.syscall(425, 8, None)))\n"     // io_uring_setup
                                "print(err(libc.ptrace(0, 0, None, None)))\n"  // PTRACE_TRACEME
                                "t = threading.Thread(target=lambda: print('thread ok'))\n"
                                "t.start(); t.join()\n"
                                "import subprocess\n"
                                "print(subprocess.run(['true']).returncode)\n"});
  ASSERT_TRUE(out.report) << out.parse_error;
  const std::string eperm = "(-1, 'Operation not permitted')\n";
  EXPECT_EQ(out.report->stdout_text, eperm + eperm + eperm + "thread ok\n0\n")
      << out.report->stderr_text;
}

TEST(RunnerLimitsTest, RlimitsAndOomScoreAreSet) {
  auto out = RunRunner({.code = "import resource as r\n"
                                "for l in (r.RLIMIT_NPROC, r.RLIMIT_NOFILE, r.RLIMIT_FSIZE,"
                                " r.RLIMIT_CORE):\n"
                                "    print(r.getrlimit(l))\n"
                                "print(open('/proc/self/oom_score_adj').read().strip())\n",
                        .pids = 17,
                        .extra_flags = {"--file-bytes=100000", "--open-files=32"}});
  ASSERT_TRUE(out.report) << out.parse_error;
  EXPECT_EQ(out.report->stdout_text,
            "(17, 17)\n(32, 32)\n(100000, 100000)\n(0, 0)\n1000\n")
      << out.report->stderr_text;
  EXPECT_EQ(out.report->runner_message.find("program setup"), std::string::npos)
      << out.report->runner_message;
}

TEST(RunnerLimitsTest, FileSizeLimitRefusesLargeWrites) {
  TempDir dir;
  auto out = RunRunner({.code = "import errno, os\n"
                                "fd = os.open('" + dir.path() + "/big', os.O_WRONLY | os.O_CREAT)\n"
                                "print(os.write(fd, b'x' * 5000))\n"
                                "try:\n"
                                "    os.write(fd, b'x')\n"
                                "except OSError as e:\n"
                                "    print(errno.errorcode[e.errno])\n",
                        .extra_flags = {"--file-bytes=1000"}});
  ASSERT_TRUE(out.report) << out.parse_error;
  EXPECT_EQ(out.report->stdout_text, "1000\nEFBIG\n") << out.report->stderr_text;
}

TEST(RunnerLimitsTest, PidsLimitStopsAForkLoop) {
  if (geteuid() == 0) GTEST_SKIP() << "RLIMIT_NPROC does not bind root";
  auto out = RunRunner({.code = "import os\nn = 0\ntry:\n"
                                "    while True:\n"
                                "        if os.fork() == 0:\n"
                                "            import time; time.sleep(100)\n"
                                "        n += 1\n"
                                "except OSError:\n"
                                "    print('stopped', n < 20)\n",
                        .pids = 20});
  ASSERT_TRUE(out.report) << out.parse_error;
  EXPECT_EQ(out.report->stdout_text, "stopped True\n");
}

}  // namespace
}  // namespace coderun::runner
