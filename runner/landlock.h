// Landlock walls around the program (Linux 5.13+, unprivileged).
//
// The runner builds a ruleset (BuildLandlockRuleset) before forking; the program's child
// enforces it on itself (EnforceLandlock) just before exec, so the program and everything
// it starts run inside the Landlock domain while the runner stays outside it. The ruleset:
//   - filesystem writes (write, truncate, create, remove, rename/link across directories,
//     ioctl on devices: every write right the kernel's ABI knows) only beneath the given
//     writable paths (directories: all of those rights; files such as /dev/null: write,
//     truncate, ioctl). Rights are checked on the resolved file, so a symlink planted in a
//     writable directory does not lend its rights to its target. Reads and exec are not
//     restricted. Files the program was handed already open (stdin, the pipes) are not
//     affected.
//   - ABI >= 4: TCP bind and connect refused (no rule allows any port).
//   - ABI >= 6: scoped signals and abstract UNIX sockets: the program cannot signal, nor
//     connect to an abstract socket of, any process outside its domain (the runner).
// Where the kernel has no Landlock (ENOSYS, EOPNOTSUPP) or a seccomp profile refuses its
// calls (EPERM), nothing is enforced and the ruleset says so.
#pragma once

#include <cstdint>
#include <string>
#include <vector>

namespace coderun::runner {

// A ruleset ready to enforce. Move-only; closes its fd.
class LandlockRuleset {
 public:
  LandlockRuleset() = default;
  LandlockRuleset(int fd, int abi, std::string note) : fd_(fd), abi_(abi), note_(std::move(note)) {}
  LandlockRuleset(LandlockRuleset&& other) noexcept;
  LandlockRuleset& operator=(LandlockRuleset&& other) noexcept;
  ~LandlockRuleset();

  // The ruleset fd (close-on-exec) for EnforceLandlock, -1 if nothing is to be enforced.
  int fd() const { return fd_; }
  // The Landlock ABI version the ruleset was built for; 0 when there is no ruleset.
  int abi() const { return abi_; }
  // Which walls are missing or weaker than with ABI >= 6, and why; "" if none.
  const std::string& note() const { return note_; }

 private:
  int fd_ = -1;
  int abi_ = 0;
  std::string note_;
};

// The kernel's Landlock ABI version, or 0 with *why set (strerror of the probe) when
// Landlock cannot be used here.
int LandlockAbi(std::string* why);

// The filesystem write rights ABI `abi` knows (0 for abi < 1).
uint64_t LandlockFsWriteRights(int abi);

// Builds the ruleset described above for the running kernel, allowing writes only beneath
// `writable_paths` (paths that do not exist are skipped). Never fails: without Landlock,
// or if building the ruleset fails, returns one with fd() == -1, abi() == 0 and the reason
// in note().
LandlockRuleset BuildLandlockRuleset(const std::vector<std::string>& writable_paths);

// Enforces `ruleset_fd` on the calling thread, setting PR_SET_NO_NEW_PRIVS first (as
// Landlock requires of an unprivileged caller). Returns 0, or the errno of the call that
// failed. Async-signal-safe: meant for the forked child just before exec.
int EnforceLandlock(int ruleset_fd);

}  // namespace coderun::runner
