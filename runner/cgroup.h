// Readers of the container's memory and CPU cgroups (v1 or v2), taking the cgroup filesystem's
// root as a parameter so tests can point them at fake files.
//
// Inside a container /sys/fs/cgroup is the container's own cgroup: on v2 (cgroup
// namespace) its files sit at the root; on v1 the runtime bind-mounts the container's
// directory of each hierarchy, so the memory files are under memory/.
#pragma once

#include <cstdint>
#include <optional>
#include <string>
#include <string_view>

namespace coderun::runner {

struct CgroupMemory {
  // Peak usage: v2 memory.peak, v1 memory/memory.max_usage_in_bytes.
  std::optional<uint64_t> peak_bytes;
  // OOM kills so far: v2 memory.events "oom_kill", v1 memory/memory.oom_control "oom_kill"
  // (kernels since 4.13).
  std::optional<uint64_t> oom_kills;
  // v1 only: memory/memory.failcnt, how often usage hit the limit (the fallback sign of an
  // OOM kill where oom_control has no counter).
  std::optional<uint64_t> failcnt;
};

// Reads what is readable under `root`; absent or malformed files leave fields empty. v2 is
// chosen when root/memory.events or root/memory.peak exists, else v1. Never fails.
CgroupMemory ReadCgroupMemory(const std::string& root);

// CPU time (user + system) used so far by every process that ever ran in the container's
// cgroup, children that were never waited for included, in nanoseconds:
//   v2: root/cpu.stat "usage_usec" (times 1000);
//   v1: root/cpu,cpuacct/cpuacct.usage, else root/cpuacct/cpuacct.usage (nanoseconds);
//   hybrid: root/unified/cpu.stat.
// nullopt when none of them is readable.
std::optional<uint64_t> ReadCgroupCpuNanos(const std::string& root);

// True if the counters say an OOM kill happened between the two samples: oom_kills grew,
// or (only when neither sample has oom_kills) failcnt grew.
bool OomKillBetween(const CgroupMemory& before, const CgroupMemory& after);

// Reads up to 64 KiB of a small file such as a cgroup or /proc file; nullopt if it cannot
// be opened or read.
std::optional<std::string> ReadSmallFile(const std::string& path);

// Parses a decimal unsigned integer surrounded by optional whitespace; nullopt otherwise
// (including "max").
std::optional<uint64_t> ParseUint(std::string_view text);

// Returns the value of the line "<key> <value>" in a flat keyed file (memory.events,
// memory.oom_control, cpu.stat).
std::optional<uint64_t> KeyedValue(std::string_view file, std::string_view key);

}  // namespace coderun::runner
