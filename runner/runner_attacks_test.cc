// The runner binary against programs that attack it (not as PID 1; runner_pid1_test.cc
// has the PID-1 cases): forged stop signals, CPU hidden in unwaited children, writes to the
// node's disk, a swapped input, and programs that close their own output.
#include <signal.h>
#include <sys/stat.h>
#include <unistd.h>

#include <gtest/gtest.h>

#include <atomic>
#include <filesystem>
#include <fstream>

#include "runner/input.h"
#include "api/input_digest.h"
#include "runner/landlock.h"
#include "runner/testing/runner_test_util.h"

namespace coderun::runner {
namespace {

using api::InputDigest;
using api::Limit;
using testing::RunInput;
using testing::RunRunner;
using testing::TempDir;

// Python that sends SIGTERM to `target` (an expression) so that the kernel leaves si_pid 0:
// through SIGIO (F_SETOWN + F_SETSIG + O_ASYNC on a pipe it writes to), or through
// rt_sigqueueinfo with a hand-made siginfo (si_code SI_QUEUE, si_pid 0). Then it waits
// long enough for the runner to act on the signal and exits 3.
std::string ForgeStop(const std::string& how, const std::string& target) {
  std::string code = "import ctypes, fcntl, os, signal, time\ntarget = " + target + "\n";
  if (how == "sigio") {
    code +=
        "r, w = os.pipe()\n"
        "fcntl.fcntl(r, fcntl.F_SETOWN, target)\n"
        "fcntl.fcntl(r, 10, signal.SIGTERM)  # F_SETSIG\n"
        "fcntl.fcntl(r, fcntl.F_SETFL, fcntl.fcntl(r, fcntl.F_GETFL) | os.O_ASYNC)\n"
        "os.write(w, b'x')\n";
  } else {
    code +=
        "libc = ctypes.CDLL(None, use_errno=True)\n"
        "info = (ctypes.c_int * 32)()\n"
        "info[0], info[2] = signal.SIGTERM, -1  # si_signo, si_code = SI_QUEUE; si_pid = 0\n"
        "if libc.syscall(129, target, signal.SIGTERM, info) != 0:  # rt_sigqueueinfo\n"
        "    print('refused', os.strerror(ctypes.get_errno()))\n";
  }
  code += "time.sleep(1.5)\nprint('still here')\nraise SystemExit(3)\n";
  return code;
}

class ForgedStopTest : public ::testing::TestWithParam<const char*> {};

TEST_P(ForgedStopTest, DoesNotEndTheRunWithoutLandlock) {
  // Landlock's signal scope would refuse the signal itself; without it, the runner's own
  // check of the sender is the wall.
  auto out = RunRunner({.code = ForgeStop(GetParam(), "os.getppid()"),
                        .extra_flags = {"--landlock=off"}});
  ASSERT_TRUE(out.report) << out.parse_error << "\n" << out.log;
  EXPECT_EQ(out.report->limit, Limit::kNone) << out.report->stdout_text;
  EXPECT_EQ(out.report->exit_code, 3) << out.report->stderr_text;
  EXPECT_EQ(out.report->stdout_text, "still here\n");
}

TEST_P(ForgedStopTest, IsRefusedByLandlockWhereItScopesSignals) {
  std::string why;
  if (LandlockAbi(&why) < 6) GTEST_SKIP() << "Landlock without signal scoping here";
  auto out = RunRunner({.code = ForgeStop(GetParam(), "os.getppid()")});
  ASSERT_TRUE(out.report) << out.parse_error << "\n" << out.log;
  EXPECT_EQ(out.report->limit, Limit::kNone);
  EXPECT_EQ(out.report->exit_code, 3) << out.report->stderr_text;
}

INSTANTIATE_TEST_SUITE_P(Forgeries, ForgedStopTest, ::testing::Values("sigio", "sigqueueinfo"));

// A cgroup of its own for one runner, in the v2 hierarchy or the v1 cpuacct one; the
// runner is moved in by a shell wrapper. Skipped unless root with cgroups to write.
class OwnCgroup {
 public:
  explicit OwnCgroup(bool v2) {
    static std::atomic<int> counter;
    const std::string name =
        "coderun-runner-test-" + std::to_string(getpid()) + "-" + std::to_string(counter++);
    std::string hierarchy;
    if (v2) {
      for (const char* h : {"/sys/fs/cgroup/unified", "/sys/fs/cgroup"}) {
        if (access((std::string(h) + "/cgroup.procs").c_str(), W_OK) == 0 &&
            access((std::string(h) + "/cgroup.controllers").c_str(), F_OK) == 0) {
          hierarchy = h;
          break;
        }
      }
    } else {
      for (const char* h : {"/sys/fs/cgroup/cpuacct", "/sys/fs/cgroup/cpu,cpuacct"}) {
        if (access((std::string(h) + "/cgroup.procs").c_str(), W_OK) == 0) {
          hierarchy = h;
          break;
        }
      }
    }
    if (hierarchy.empty() || mkdir((hierarchy + "/" + name).c_str(), 0755) != 0) return;
    dir_ = hierarchy + "/" + name;
    if (v2) {
      root_ = dir_;
    } else {
      root_ = fake_root_.path();
      std::filesystem::create_directory_symlink(dir_, root_ + "/cpuacct");
    }
  }
  ~OwnCgroup() {
    if (!dir_.empty()) rmdir(dir_.c_str());
  }
  bool ok() const { return !dir_.empty(); }
  // For RunInput::wrapper and --cgroup-root.
  std::vector<std::string> Wrapper() const {
    return {"sh", "-c", "echo $$ > " + dir_ + "/cgroup.procs && exec \"$@\"", "sh"};
  }
  const std::string& root() const { return root_; }

 private:
  TempDir fake_root_;
  std::string dir_, root_;
};

// Children that burn CPU while SIGCHLD is ignored: the kernel reaps them itself and no
// wait status (getrusage(RUSAGE_CHILDREN)) ever holds their time.
const char kHiddenBurners[] =
    "import os, signal, time\n"
    "signal.signal(signal.SIGCHLD, signal.SIG_IGN)\n"
    "for _ in range(2):\n"
    "    if os.fork() == 0:\n"
    "        end = time.process_time() + 0.6\n"
    "        while time.process_time() < end: pass\n"
    "        os._exit(0)\n"
    "try:\n"
    "    os.waitpid(-1, 0)  # returns ECHILD once every child is gone\n"
    "except ChildProcessError:\n"
    "    pass\n";

class CgroupCpuTest : public ::testing::TestWithParam<bool> {};

TEST_P(CgroupCpuTest, CountsChildrenThatWereNeverWaitedFor) {
  if (geteuid() != 0) GTEST_SKIP() << "needs root to create a cgroup";
  OwnCgroup cgroup(GetParam());
  if (!cgroup.ok()) GTEST_SKIP() << "no writable cgroup hierarchy of that version here";
  RunInput in{.code = kHiddenBurners};
  in.wrapper = cgroup.Wrapper();
  in.extra_flags = {"--cgroup-root=" + cgroup.root()};
  auto out = RunRunner(in);
  ASSERT_TRUE(out.report) << out.parse_error << "\n" << out.log;
  EXPECT_EQ(out.report->exit_code, 0) << out.report->stderr_text;
  EXPECT_GE(out.report->cpu_millis, 1100u) << out.report->runner_message;
  EXPECT_EQ(out.report->runner_message.find("CPU time from wait status"), std::string::npos);
}

INSTANTIATE_TEST_SUITE_P(CgroupVersions, CgroupCpuTest, ::testing::Values(false, true),
                         [](const auto& info) { return info.param ? "v2" : "v1"; });

TEST(RunnerAttacksTest, WithoutACgroupCpuComesFromWaitStatusAndTheReportSaysSo) {
  auto out = RunRunner({.code = "print(1)\n"});
  ASSERT_TRUE(out.report) << out.parse_error;
  EXPECT_NE(out.report->runner_message.find("CPU time from wait status"), std::string::npos)
      << out.report->runner_message;
}

// Writes to the termination log directly, through a symlink planted in the writable
// directory, and through /proc/self/root; prints what each attempt met.
std::string WriteTerminationLog(const std::string& log, const std::string& writable) {
  return "import errno, os\n"
         "os.symlink('" + log + "', '" + writable + "/link')\n"
         "for path in ('" + log + "', '" + writable + "/link', '/proc/self/root" + log + "'):\n"
         "    try:\n"
         "        with open(path, 'wb') as f:\n"
         "            f.write(b'x' * 100000)\n"
         "        print('wrote')\n"
         "    except OSError as e:\n"
         "        print(errno.errorcode[e.errno])\n";
}

off_t SizeOf(const std::string& path) {
  struct stat st;
  return stat(path.c_str(), &st) == 0 ? st.st_size : -1;
}

TEST(RunnerAttacksTest, TerminationLogIsNotWritableUnderLandlock) {
  std::string why;
  const int abi = LandlockAbi(&why);
  if (abi == 0) GTEST_SKIP() << "no Landlock here: " << why;
  TempDir writable, node;
  const std::string log = node.path() + "/termination-log";
  node.Write("termination-log", "");
  chmod(log.c_str(), 0666);
  auto out = RunRunner({.code = WriteTerminationLog(log, writable.path()),
                        .extra_flags = {"--writable-dir=" + writable.path(),
                                        "--termination-log=" + log}});
  ASSERT_TRUE(out.report) << out.parse_error << "\n" << out.log;
  EXPECT_EQ(out.report->stdout_text, "EACCES\nEACCES\nEACCES\n") << out.report->stderr_text;
  EXPECT_EQ(out.report->landlock_abi, abi);
  EXPECT_EQ(SizeOf(log), 0);
}

TEST(RunnerAttacksTest, TerminationLogIsTruncatedAfterTheRunWithoutLandlock) {
  TempDir writable, node;
  const std::string log = node.path() + "/termination-log";
  node.Write("termination-log", "");
  auto out = RunRunner({.code = WriteTerminationLog(log, writable.path()),
                        .extra_flags = {"--writable-dir=" + writable.path(),
                                        "--termination-log=" + log, "--landlock=off"}});
  ASSERT_TRUE(out.report) << out.parse_error << "\n" << out.log;
  EXPECT_EQ(out.report->stdout_text, "wrote\nwrote\nwrote\n") << out.report->stderr_text;
  EXPECT_EQ(out.report->landlock_abi, 0);
  EXPECT_EQ(SizeOf(log), 0);
  EXPECT_NE(out.report->runner_message.find("100000 bytes to " + log + "; truncated"),
            std::string::npos)
      << out.report->runner_message;
}

TEST(RunnerAttacksTest, WritableDirectoriesStayWritable) {
  TempDir writable;
  auto out = RunRunner({.code = "import os, tempfile\n"
                                "d = '" + writable.path() + "'\n"
                                "os.mkdir(d + '/a')\n"
                                "open(d + '/a/f', 'w').write('x')\n"
                                "os.rename(d + '/a/f', d + '/g')\n"
                                "os.truncate(d + '/g', 0)\n"
                                "os.symlink('g', d + '/l')\n"
                                "os.remove(d + '/l'); os.remove(d + '/g'); os.rmdir(d + '/a')\n"
                                "open(os.devnull, 'w').write('x')\n"
                                "print('ok')\n",
                        .extra_flags = {"--writable-dir=" + writable.path()}});
  ASSERT_TRUE(out.report) << out.parse_error;
  EXPECT_EQ(out.report->stdout_text, "ok\n") << out.report->stderr_text;
}

// What the input digest guards: a program that proves it ran by creating a file.
TEST(RunnerAttacksTest, InputThatDoesNotMatchItsDigestIsNeverRun) {
  TempDir marker_dir;
  const std::string marker = marker_dir.path() + "/ran";
  const std::string code = "open('" + marker + "', 'w').close()\nprint('ran')\n";
  const std::string digest = InputDigest("nonce-1", code, "in\n", "[]");
  // Swapped code, swapped nonce, a missing nonce: all refused.
  for (const auto& [what, in] : std::vector<std::pair<std::string, RunInput>>{
           {"code", {.code = code + "#", .stdin_text = "in\n", .nonce = "nonce-1"}},
           {"nonce", {.code = code, .stdin_text = "in\n", .nonce = "nonce-2"}},
           {"no nonce", {.code = code, .stdin_text = "in\n"}},
           {"stdin", {.code = code, .stdin_text = "in!\n", .nonce = "nonce-1"}}}) {
    RunInput run = in;
    run.extra_flags = {"--input-digest=" + digest};
    auto out = RunRunner(run);
    ASSERT_TRUE(out.report) << what << ": " << out.parse_error;
    EXPECT_EQ(out.report->runner_error, kInputDigestMismatch) << what;
    EXPECT_EQ(out.report->input_digest, "") << what;  // not about any input it names
    EXPECT_EQ(out.report->stdout_text, "") << what;
    EXPECT_NE(access(marker.c_str(), F_OK), 0) << what << ": the program ran";
  }
  auto out = RunRunner({.code = code, .stdin_text = "in\n", .nonce = "nonce-1",
                        .extra_flags = {"--input-digest=" + digest}});
  ASSERT_TRUE(out.report) << out.parse_error;
  EXPECT_EQ(out.report->runner_error, "");
  EXPECT_EQ(out.report->stdout_text, "ran\n");
  EXPECT_EQ(out.report->input_digest, digest);  // the report names the input it ran
}

TEST(RunnerAttacksTest, MatchingDigestRunsWithStdinAndArgsIntact) {
  const std::string code = "import sys\nprint(sys.argv[1:], sys.stdin.read())\n";
  auto out = RunRunner({.code = code, .stdin_text = "abc", .args_json = R"(["x"])",
                        .nonce = "n",
                        .extra_flags = {"--input-digest=" +
                                        InputDigest("n", code, "abc", R"(["x"])")}});
  ASSERT_TRUE(out.report) << out.parse_error;
  EXPECT_EQ(out.report->runner_error, "");
  EXPECT_EQ(out.report->stdout_text, "['x'] abc\n") << out.report->stderr_text;
}

TEST(RunnerAttacksTest, ClosingOrRedirectingItsOwnOutputDoesNotChangeTheReport) {
  for (const char* how : {"os.close(1); os.close(2)",
                          "n = os.open(os.devnull, os.O_WRONLY); os.dup2(n, 1); os.dup2(n, 2)"}) {
    auto out = RunRunner({.code = std::string("import os, sys, time\n"
                                              "print('before', flush=True)\n"
                                              "sys.stderr.write('err\\n'); sys.stderr.flush()\n") +
                                  how +
                                  "\n"
                                  "time.sleep(0.3)\n"
                                  "os._exit(4)\n"});
    ASSERT_TRUE(out.report) << how << ": " << out.parse_error << "\n" << out.log;
    EXPECT_EQ(out.report->exit_code, 4) << how;
    EXPECT_EQ(out.report->limit, Limit::kNone) << how;
    EXPECT_EQ(out.report->stdout_text, "before\n") << how;
    EXPECT_EQ(out.report->stderr_text, "err\n") << how;
  }
}

}  // namespace
}  // namespace coderun::runner
