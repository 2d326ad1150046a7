#include "runner/processes.h"

#include <dirent.h>
#include <signal.h>
#include <unistd.h>

#include <cstdlib>
#include <unordered_map>

#include "runner/cgroup.h"

namespace coderun::runner {

pid_t ParentFromStat(const std::string& stat) {
  const size_t paren = stat.rfind(')');
  if (paren == std::string::npos || paren + 4 >= stat.size()) return -1;
  // ") S 123 ...": state, then the parent pid.
  const size_t begin = stat.find(' ', paren + 2);
  if (begin == std::string::npos) return -1;
  const size_t end = stat.find(' ', begin + 1);
  const auto parent = ParseUint(std::string_view(stat).substr(begin + 1, end - begin - 1));
  return parent && *parent < (1u << 30) ? static_cast<pid_t>(*parent) : -1;
}

std::vector<pid_t> ListDescendants(pid_t ancestor, const std::string& proc_root) {
  std::unordered_multimap<pid_t, pid_t> children;  // parent -> child
  if (DIR* dir = opendir(proc_root.c_str())) {
    while (const dirent* entry = readdir(dir)) {
      const auto pid = ParseUint(entry->d_name);
      if (!pid || *pid >= (1u << 30)) continue;
      const auto stat = ReadSmallFile(proc_root + "/" + entry->d_name + "/stat");
      if (!stat) continue;
      const pid_t parent = ParentFromStat(*stat);
      if (parent > 0) children.emplace(parent, static_cast<pid_t>(*pid));
    }
    closedir(dir);
  }
  std::vector<pid_t> found;
  std::vector<pid_t> pending = {ancestor};
  while (!pending.empty()) {
    const pid_t parent = pending.back();
    pending.pop_back();
    auto [begin, end] = children.equal_range(parent);
    for (auto it = begin; it != end; ++it) {
      found.push_back(it->second);
      pending.push_back(it->second);
    }
  }
  return found;
}

int KillRun() {
  if (getpid() == 1) return kill(-1, SIGKILL) == 0 ? 1 : 0;
  int sent = 0;
  for (pid_t pid : ListDescendants(getpid(), "/proc")) {
    if (kill(pid, SIGKILL) == 0) ++sent;
  }
  return sent;
}

}  // namespace coderun::runner
