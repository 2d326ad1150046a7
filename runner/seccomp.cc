#include "runner/seccomp.h"

#include <errno.h>
#include <linux/audit.h>
#include <linux/seccomp.h>
#include <sched.h>
#include <stddef.h>
#include <string.h>
#include <sys/prctl.h>
#include <sys/socket.h>
#include <sys/syscall.h>

#include <cstdint>

namespace coderun::runner {
namespace {

constexpr uint32_t kX32SyscallBit = 0x40000000;
constexpr uint32_t kNamespaceFlags = CLONE_NEWNS | CLONE_NEWCGROUP | CLONE_NEWUTS | CLONE_NEWIPC |
                                     CLONE_NEWUSER | CLONE_NEWPID | CLONE_NEWNET;

// Syscall numbers refused outright (x86_64).
constexpr uint32_t kDenied[] = {
    SYS_io_uring_setup, SYS_io_uring_enter, SYS_io_uring_register, SYS_userfaultfd, SYS_bpf,
    SYS_perf_event_open, SYS_ptrace, SYS_process_vm_readv, SYS_process_vm_writev, SYS_kcmp,
    438 /* pidfd_getfd */, SYS_keyctl, SYS_add_key, SYS_request_key, SYS_mount, SYS_umount2,
    SYS_pivot_root, SYS_chroot, 429 /* move_mount */, 430 /* fsopen */, 431 /* fsconfig */,
    432 /* fsmount */, 433 /* fspick */, 428 /* open_tree */, 442 /* mount_setattr */,
    SYS_unshare, SYS_setns, SYS_kexec_load, SYS_kexec_file_load, SYS_init_module,
    SYS_finit_module, SYS_delete_module, SYS_reboot, SYS_swapon, SYS_swapoff, SYS_acct,
    SYS_quotactl, SYS_iopl, SYS_ioperm, SYS_syslog, SYS_uselib, SYS_open_by_handle_at,
    SYS_name_to_handle_at};
constexpr uint32_t kClone3 = 435;

// Builds straight-line BPF with forward jumps to named targets, resolved by Finish().
class Assembler {
 public:
  enum Target { kAllow, kDeny, kNoSys, kKill, kSocket, kClone, kNumTargets };

  void Stmt(uint16_t code, uint32_t k) { code_.push_back(BPF_STMT(code, k)); }
  // if (A == k) goto target; else fall through.
  void JumpIfEqual(uint32_t k, Target target) { Jump(BPF_JMP | BPF_JEQ | BPF_K, k, target); }
  void JumpIfGreaterOrEqual(uint32_t k, Target target) {
    Jump(BPF_JMP | BPF_JGE | BPF_K, k, target);
  }
  void JumpIfAnyBit(uint32_t k, Target target) { Jump(BPF_JMP | BPF_JSET | BPF_K, k, target); }
  void Label(Target target) { labels_[target] = code_.size(); }

  std::vector<sock_filter> Finish() {
    for (const auto& [index, target] : fixups_) {
      // Targets are always later in the program and fit in 8 bits (the program is short).
      code_[index].jt = static_cast<uint8_t>(labels_[target] - index - 1);
    }
    return code_;
  }

 private:
  void Jump(uint16_t code, uint32_t k, Target target) {
    fixups_.push_back({code_.size(), target});
    code_.push_back(BPF_JUMP(code, k, 0, 0));
  }

  std::vector<sock_filter> code_;
  std::vector<std::pair<size_t, Target>> fixups_;
  size_t labels_[kNumTargets] = {};
};

constexpr uint32_t ArgLow(int n) {
  return static_cast<uint32_t>(offsetof(seccomp_data, args) + 8 * n);  // little-endian
}

}  // namespace

std::vector<sock_filter> BuildSeccompFilter() {
  using A = Assembler;
  // The arch check falls through on x86_64 and kills otherwise.
  std::vector<sock_filter> head = {
      BPF_STMT(BPF_LD | BPF_W | BPF_ABS, offsetof(seccomp_data, arch)),
      BPF_JUMP(BPF_JMP | BPF_JEQ | BPF_K, AUDIT_ARCH_X86_64, 1, 0),
      BPF_STMT(BPF_RET | BPF_K, SECCOMP_RET_KILL_PROCESS),
  };
  A body;
  body.Stmt(BPF_LD | BPF_W | BPF_ABS, offsetof(seccomp_data, nr));
  body.JumpIfGreaterOrEqual(kX32SyscallBit, A::kDeny);
  for (uint32_t nr : kDenied) body.JumpIfEqual(nr, A::kDeny);
  body.JumpIfEqual(SYS_socket, A::kSocket);
  body.JumpIfEqual(SYS_clone, A::kClone);
  body.JumpIfEqual(kClone3, A::kNoSys);
  body.Stmt(BPF_RET | BPF_K, SECCOMP_RET_ALLOW);
  body.Label(A::kSocket);
  body.Stmt(BPF_LD | BPF_W | BPF_ABS, ArgLow(0));
  body.JumpIfEqual(AF_UNIX, A::kAllow);
  body.Stmt(BPF_RET | BPF_K, SECCOMP_RET_ERRNO | EPERM);
  body.Label(A::kClone);
  body.Stmt(BPF_LD | BPF_W | BPF_ABS, ArgLow(0));
  body.JumpIfAnyBit(kNamespaceFlags, A::kDeny);
  body.Label(A::kAllow);
  body.Stmt(BPF_RET | BPF_K, SECCOMP_RET_ALLOW);
  body.Label(A::kDeny);
  body.Stmt(BPF_RET | BPF_K, SECCOMP_RET_ERRNO | EPERM);
  body.Label(A::kNoSys);
  body.Stmt(BPF_RET | BPF_K, SECCOMP_RET_ERRNO | ENOSYS);
  std::vector<sock_filter> program = body.Finish();
  program.insert(program.begin(), head.begin(), head.end());
  return program;
}

std::string InstallSeccompFilter() {
  std::vector<sock_filter> filter = BuildSeccompFilter();
  sock_fprog prog = {static_cast<unsigned short>(filter.size()), filter.data()};
  if (prctl(PR_SET_NO_NEW_PRIVS, 1, 0, 0, 0) != 0) {
    return std::string("prctl(PR_SET_NO_NEW_PRIVS): ") + strerror(errno);
  }
  if (prctl(PR_SET_SECCOMP, SECCOMP_MODE_FILTER, &prog) != 0) {
    return std::string("prctl(PR_SET_SECCOMP): ") + strerror(errno);
  }
  return "";
}

}  // namespace coderun::runner
