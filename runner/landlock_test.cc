#include "runner/landlock.h"

#include <errno.h>
#include <fcntl.h>
#include <signal.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>
#include <netinet/in.h>

#include <gtest/gtest.h>

#include <filesystem>
#include <functional>

#include "runner/testing/runner_test_util.h"

namespace coderun::runner {
namespace {

using testing::TempDir;

TEST(LandlockTest, WriteRightsGrowWithTheAbi) {
  EXPECT_EQ(LandlockFsWriteRights(0), 0u);
  const uint64_t v1 = LandlockFsWriteRights(1);
  EXPECT_EQ(v1 & (1ULL << 0 | 1ULL << 2 | 1ULL << 3), 0u);  // execute, read file, read dir
  EXPECT_NE(v1 & (1ULL << 1), 0u);                           // write file
  EXPECT_EQ(LandlockFsWriteRights(2), v1 | 1ULL << 13);      // + refer
  EXPECT_EQ(LandlockFsWriteRights(4), v1 | 1ULL << 13 | 1ULL << 14);  // + truncate
  EXPECT_EQ(LandlockFsWriteRights(7), LandlockFsWriteRights(5));
  EXPECT_NE(LandlockFsWriteRights(5) & (1ULL << 15), 0u);  // + ioctl on devices
}

// In a forked child: enforces the ruleset, then runs `probe`, whose return value becomes
// the exit status. Returns the wait status.
int InChild(const LandlockRuleset& ruleset, const std::function<int()>& probe) {
  const pid_t pid = fork();
  if (pid == 0) {
    if (EnforceLandlock(ruleset.fd()) != 0) _exit(100);
    _exit(probe());
  }
  int status = -1;
  waitpid(pid, &status, 0);
  return status;
}

int ErrnoOf(int rc) { return rc >= 0 ? 0 : errno; }

int OpenForWrite(const std::string& path) {
  const int fd = open(path.c_str(), O_WRONLY | O_CREAT | O_CLOEXEC, 0644);
  if (fd < 0) return errno;
  close(fd);
  return 0;
}

class LandlockRulesetTest : public ::testing::Test {
 protected:
  void SetUp() override {
    std::string why;
    abi_ = LandlockAbi(&why);
    if (abi_ == 0) GTEST_SKIP() << "no Landlock here: " << why;
    std::filesystem::create_directory(writable_.path() + "/sub");
    outside_.Write("termination-log", "");
  }
  int abi_ = 0;
  TempDir writable_, outside_;
};

TEST_F(LandlockRulesetTest, WritesOnlyBeneathWritablePathsEvenThroughSymlinks) {
  const LandlockRuleset ruleset = BuildLandlockRuleset({writable_.path(), "/dev/null"});
  ASSERT_GE(ruleset.fd(), 0) << ruleset.note();
  EXPECT_EQ(ruleset.abi(), abi_);
  const std::string log = outside_.path() + "/termination-log";
  const std::string link = writable_.path() + "/sub/link";
  ASSERT_EQ(symlink(log.c_str(), link.c_str()), 0);
  const auto expect_exit = [&](int status, int want, const char* what) {
    EXPECT_TRUE(WIFEXITED(status) && WEXITSTATUS(status) == want)
        << what << ": status " << status << " (exit " << WEXITSTATUS(status) << ")";
  };
  expect_exit(InChild(ruleset, [&] { return OpenForWrite(writable_.path() + "/sub/f"); }), 0,
              "create beneath the writable dir");
  expect_exit(InChild(ruleset, [&] { return OpenForWrite("/dev/null"); }), 0, "/dev/null");
  expect_exit(InChild(ruleset, [&] { return OpenForWrite(log); }), EACCES, "outside");
  expect_exit(InChild(ruleset, [&] { return OpenForWrite(link); }), EACCES, "symlink to outside");
  expect_exit(InChild(ruleset, [&] { return OpenForWrite(outside_.path() + "/new"); }), EACCES,
              "create outside");
  expect_exit(InChild(ruleset, [&] { return ErrnoOf(unlink(log.c_str())); }), EACCES,
              "remove outside");
  expect_exit(InChild(ruleset, [&] { return ErrnoOf(truncate(log.c_str(), 0)); }),
              abi_ >= 3 ? EACCES : 0, "truncate outside");
  // Reading is not restricted.
  expect_exit(InChild(ruleset, [&] { return ErrnoOf(open(log.c_str(), O_RDONLY)); }), 0, "read");
  struct stat st;
  ASSERT_EQ(stat(log.c_str(), &st), 0);
  EXPECT_EQ(st.st_size, 0);
}

TEST_F(LandlockRulesetTest, SignalsAndTcpAreWalledWhereTheAbiHasThem) {
  const LandlockRuleset ruleset = BuildLandlockRuleset({writable_.path()});
  ASSERT_GE(ruleset.fd(), 0) << ruleset.note();
  const pid_t self = getpid();  // outside the child's domain
  const int status = InChild(ruleset, [self] { return ErrnoOf(kill(self, 0)); });
  ASSERT_TRUE(WIFEXITED(status));
  EXPECT_EQ(WEXITSTATUS(status), abi_ >= 6 ? EPERM : 0);
  const int tcp = InChild(ruleset, [] {
    const int fd = socket(AF_INET, SOCK_STREAM, 0);
    if (fd < 0) return 99;
    sockaddr_in addr = {};
    addr.sin_family = AF_INET;
    addr.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    return ErrnoOf(bind(fd, reinterpret_cast<sockaddr*>(&addr), sizeof(addr)));
  });
  ASSERT_TRUE(WIFEXITED(tcp));
  EXPECT_EQ(WEXITSTATUS(tcp), abi_ >= 4 ? EACCES : 0);
  if (abi_ >= 6) {
    EXPECT_EQ(ruleset.note(), "");
  } else {
    EXPECT_NE(ruleset.note().find("Landlock ABI"), std::string::npos);
  }
}

TEST(LandlockTest, MissingWritablePathsAreSkipped) {
  std::string why;
  if (LandlockAbi(&why) == 0) GTEST_SKIP() << "no Landlock here: " << why;
  const LandlockRuleset ruleset = BuildLandlockRuleset({"/nonexistent/dir", "/dev/null"});
  EXPECT_GE(ruleset.fd(), 0) << ruleset.note();
}

}  // namespace
}  // namespace coderun::runner
