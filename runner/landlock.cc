#include "runner/landlock.h"

#include <errno.h>
#include <fcntl.h>
#include <string.h>
#include <sys/prctl.h>
#include <sys/stat.h>
#include <sys/syscall.h>
#include <unistd.h>

#include <utility>

#include "runner/sys_error.h"

namespace coderun::runner {
namespace {

// Landlock's user-space API, from the kernel's include/uapi/linux/landlock.h (Linux 6.15,
// ABI 7). Defined here because Debian bookworm's linux-libc-dev (6.1) stops at ABI 2.
// Syscall numbers are those of x86_64 (arch/x86/entry/syscalls/syscall_64.tbl).
constexpr long kSysCreateRuleset = 444;  // landlock_create_ruleset
constexpr long kSysAddRule = 445;        // landlock_add_rule
constexpr long kSysRestrictSelf = 446;   // landlock_restrict_self
constexpr uint32_t kCreateRulesetVersion = 1U << 0;  // LANDLOCK_CREATE_RULESET_VERSION
constexpr int kRulePathBeneath = 1;                  // LANDLOCK_RULE_PATH_BENEATH

// LANDLOCK_ACCESS_FS_* (ABI 1 unless noted).
constexpr uint64_t kFsWriteFile = 1ULL << 1;
constexpr uint64_t kFsRemoveDir = 1ULL << 4;
constexpr uint64_t kFsRemoveFile = 1ULL << 5;
constexpr uint64_t kFsMakeChar = 1ULL << 6;
constexpr uint64_t kFsMakeDir = 1ULL << 7;
constexpr uint64_t kFsMakeReg = 1ULL << 8;
constexpr uint64_t kFsMakeSock = 1ULL << 9;
constexpr uint64_t kFsMakeFifo = 1ULL << 10;
constexpr uint64_t kFsMakeBlock = 1ULL << 11;
constexpr uint64_t kFsMakeSym = 1ULL << 12;
constexpr uint64_t kFsRefer = 1ULL << 13;     // ABI 2
constexpr uint64_t kFsTruncate = 1ULL << 14;  // ABI 3
constexpr uint64_t kFsIoctlDev = 1ULL << 15;  // ABI 5
// LANDLOCK_ACCESS_NET_* (ABI 4).
constexpr uint64_t kNetBindTcp = 1ULL << 0;
constexpr uint64_t kNetConnectTcp = 1ULL << 1;
// LANDLOCK_SCOPE_* (ABI 6).
constexpr uint64_t kScopeAbstractUnixSocket = 1ULL << 0;
constexpr uint64_t kScopeSignal = 1ULL << 1;

// Rights that a rule on a non-directory may carry (the kernel refuses others there).
constexpr uint64_t kFileRights = kFsWriteFile | kFsTruncate | kFsIoctlDev;

// struct landlock_ruleset_attr. Older kernels accept the larger struct as long as the
// fields they do not know are zero.
struct RulesetAttr {
  uint64_t handled_access_fs;
  uint64_t handled_access_net;  // ABI 4
  uint64_t scoped;              // ABI 6
};

// struct landlock_path_beneath_attr.
struct __attribute__((packed)) PathBeneathAttr {
  uint64_t allowed_access;
  int32_t parent_fd;
};

}  // namespace

LandlockRuleset::LandlockRuleset(LandlockRuleset&& other) noexcept
    : fd_(std::exchange(other.fd_, -1)), abi_(other.abi_), note_(std::move(other.note_)) {}

LandlockRuleset& LandlockRuleset::operator=(LandlockRuleset&& other) noexcept {
  if (this != &other) {
    if (fd_ >= 0) close(fd_);
    fd_ = std::exchange(other.fd_, -1);
    abi_ = other.abi_;
    note_ = std::move(other.note_);
  }
  return *this;
}

LandlockRuleset::~LandlockRuleset() {
  if (fd_ >= 0) close(fd_);
}

int LandlockAbi(std::string* why) {
  const long abi = syscall(kSysCreateRuleset, nullptr, 0, kCreateRulesetVersion);
  if (abi > 0) return static_cast<int>(abi);
  *why = abi < 0 ? strerror(errno) : "ABI version 0";
  return 0;
}

uint64_t LandlockFsWriteRights(int abi) {
  if (abi < 1) return 0;
  uint64_t rights = kFsWriteFile | kFsRemoveDir | kFsRemoveFile | kFsMakeChar | kFsMakeDir |
                    kFsMakeReg | kFsMakeSock | kFsMakeFifo | kFsMakeBlock | kFsMakeSym;
  if (abi >= 2) rights |= kFsRefer;
  if (abi >= 3) rights |= kFsTruncate;
  if (abi >= 5) rights |= kFsIoctlDev;
  return rights;
}

LandlockRuleset BuildLandlockRuleset(const std::vector<std::string>& writable_paths) {
  std::string why;
  const int abi = LandlockAbi(&why);
  if (abi == 0) {
    return {-1, 0, "Landlock unavailable (" + why + "): writes outside the writable "
                   "directories are bounded only by file permissions and RLIMIT_FSIZE"};
  }
  RulesetAttr attr = {};
  attr.handled_access_fs = LandlockFsWriteRights(abi);
  if (abi >= 4) attr.handled_access_net = kNetBindTcp | kNetConnectTcp;
  if (abi >= 6) attr.scoped = kScopeAbstractUnixSocket | kScopeSignal;
  const int fd = static_cast<int>(syscall(kSysCreateRuleset, &attr, sizeof(attr), 0));
  if (fd < 0) {
    return {-1, 0, "Landlock unavailable (" + Errno("landlock_create_ruleset", errno) + ")"};
  }
  std::string note;
  const auto lacks = [&](int since, const char* what) {
    if (abi >= since) return;
    note += note.empty() ? "Landlock ABI " + std::to_string(abi) + ": " : ", ";
    note += what;
  };
  lacks(3, "truncate(2) unrestricted");
  lacks(4, "TCP not walled by Landlock");
  lacks(5, "device ioctls unrestricted");
  lacks(6, "the program may signal the runner");
  LandlockRuleset ruleset(fd, abi, std::move(note));  // owns fd from here
  for (const std::string& path : writable_paths) {
    const int path_fd = open(path.c_str(), O_PATH | O_CLOEXEC);
    if (path_fd < 0) continue;  // nothing there to write to
    struct stat st;
    PathBeneathAttr rule = {attr.handled_access_fs, path_fd};
    if (fstat(path_fd, &st) == 0 && !S_ISDIR(st.st_mode)) rule.allowed_access &= kFileRights;
    const long rc = syscall(kSysAddRule, fd, kRulePathBeneath, &rule, 0);
    const int err = errno;
    close(path_fd);
    if (rc != 0) {
      return {-1, 0, "Landlock unused (" + Errno("landlock_add_rule " + path, err) + ")"};
    }
  }
  return ruleset;
}

int EnforceLandlock(int ruleset_fd) {
  if (prctl(PR_SET_NO_NEW_PRIVS, 1, 0, 0, 0) != 0) return errno;
  if (syscall(kSysRestrictSelf, ruleset_fd, 0) != 0) return errno;
  return 0;
}

}  // namespace coderun::runner
