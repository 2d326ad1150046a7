// The program's seccomp filter: a classic BPF program written by hand (libseccomp has no
// static build on Debian). It is a second wall behind the NetworkPolicy and the runtime's
// own RuntimeDefault profile, which stays in force (filters stack; the strictest wins).
//
// x86_64 only. Any other audit arch (i386 via int 0x80, ...) kills the process; x32
// syscall numbers (bit 30) get EPERM. Refused with EPERM:
//   socket() unless the domain is AF_UNIX (socketpair() stays allowed),
//   io_uring_setup/enter/register, userfaultfd, bpf, perf_event_open,
//   ptrace, process_vm_readv/writev, kcmp, pidfd_getfd,
//   keyctl, add_key, request_key,
//   mount, umount2, pivot_root, chroot, move_mount, fsopen, fsconfig, fsmount, fspick,
//   open_tree, mount_setattr,
//   unshare, setns, and clone() with any CLONE_NEW* flag (no new namespaces: user
//   namespaces are a large kernel attack surface and nothing a program needs),
//   kexec_load, kexec_file_load, init_module, finit_module, delete_module,
//   reboot, swapon, swapoff, acct, quotactl, iopl, ioperm, syslog, uselib,
//   open_by_handle_at, name_to_handle_at.
// clone3() gets ENOSYS: its flags sit behind a pointer the filter cannot read, and glibc
// falls back to clone() (as under Docker's default profile).
#pragma once

#include <linux/filter.h>

#include <string>
#include <vector>

namespace coderun::runner {

// Returns the filter program described above.
std::vector<sock_filter> BuildSeccompFilter();

// Sets PR_SET_NO_NEW_PRIVS and installs BuildSeccompFilter() on the calling thread.
// Returns "" on success, else what failed (with strerror). Meant for the forked child just
// before exec.
std::string InstallSeccompFilter();

}  // namespace coderun::runner
