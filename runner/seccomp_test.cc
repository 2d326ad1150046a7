#include "runner/seccomp.h"

#include <errno.h>
#include <linux/seccomp.h>
#include <sched.h>
#include <sys/socket.h>
#include <sys/syscall.h>
#include <sys/wait.h>
#include <unistd.h>

#include <gtest/gtest.h>

namespace coderun::runner {
namespace {

TEST(SeccompTest, FilterIsWellFormed) {
  const std::vector<sock_filter> filter = BuildSeccompFilter();
  ASSERT_GT(filter.size(), 10u);
  ASSERT_LT(filter.size(), 256u);
  EXPECT_EQ(filter.back().code, BPF_RET | BPF_K);
  for (size_t i = 0; i < filter.size(); ++i) {
    if (BPF_CLASS(filter[i].code) == BPF_JMP) {
      EXPECT_LT(i + 1 + filter[i].jt, filter.size()) << i;
      EXPECT_LT(i + 1 + filter[i].jf, filter.size()) << i;
    }
  }
}

// Installs the filter in a forked child and returns one bit per expectation met.
int ProbeInChild() {
  if (!InstallSeccompFilter().empty()) return 0;
  int bits = 0;
  errno = 0;
  if (socket(AF_INET, SOCK_STREAM, 0) < 0 && errno == EPERM) bits |= 1;
  errno = 0;
  if (socket(AF_INET6, SOCK_DGRAM, 0) < 0 && errno == EPERM) bits |= 2;
  if (socket(AF_UNIX, SOCK_STREAM, 0) >= 0) bits |= 4;
  int pair[2];
  if (socketpair(AF_UNIX, SOCK_STREAM, 0, pair) == 0) bits |= 8;
  errno = 0;
  if (unshare(CLONE_NEWUSER) < 0 && errno == EPERM) bits |= 16;
  errno = 0;
  if (syscall(435, nullptr, 0) < 0 && errno == ENOSYS) bits |= 32;  // clone3
  errno = 0;
  if (syscall(SYS_bpf, 0, nullptr, 0) < 0 && errno == EPERM) bits |= 64;
  // A plain fork (clone without namespace flags) still works.
  const pid_t pid = fork();
  if (pid == 0) _exit(0);
  int status = 0;
  if (pid > 0 && waitpid(pid, &status, 0) == pid && WIFEXITED(status)) bits |= 128;
  errno = 0;
  // x32 ABI numbers are refused.
  if (syscall(0x40000000 | SYS_getpid) < 0 && errno == EPERM) bits |= 256;
  return bits;
}

TEST(SeccompTest, RefusesInetSocketsNamespacesAndBpfInAChild) {
  int fds[2];
  ASSERT_EQ(pipe(fds), 0);
  const pid_t pid = fork();
  ASSERT_GE(pid, 0);
  if (pid == 0) {
    const int bits = ProbeInChild();
    [[maybe_unused]] ssize_t n = write(fds[1], &bits, sizeof(bits));
    _exit(0);
  }
  close(fds[1]);
  int bits = 0;
  ASSERT_EQ(read(fds[0], &bits, sizeof(bits)), static_cast<ssize_t>(sizeof(bits)));
  close(fds[0]);
  int status = 0;
  ASSERT_EQ(waitpid(pid, &status, 0), pid);
  EXPECT_EQ(bits, 511) << std::hex << bits;
}

}  // namespace
}  // namespace coderun::runner
