// Finding and killing every process of a run.
//
// As PID 1 of the container, every other process in the PID namespace belongs to the run
// (orphans reparent to PID 1), and kill(-1, SIGKILL) reaches all of them but the runner.
// Outside a container (tests, --no-init style use) the runner is a child subreaper, so
// orphans of the run reparent to it, and the run is exactly its descendants.
#pragma once

#include <sys/types.h>

#include <string>
#include <vector>

namespace coderun::runner {

// Returns the parent pid from the text of /proc/<pid>/stat, or -1 if malformed (the
// command name may hold spaces and parentheses: the field after the last ')' is used).
pid_t ParentFromStat(const std::string& stat);

// Returns every live descendant of `ancestor` found under `proc_root` (normally "/proc"),
// by parent links read from <proc_root>/<pid>/stat. A racy snapshot: callers repeat.
std::vector<pid_t> ListDescendants(pid_t ancestor, const std::string& proc_root);

// Sends SIGKILL to every process of the run except the caller: kill(-1) when the caller is
// PID 1, else to each descendant of the caller. Returns how many signals were sent (for
// PID 1: 1 if kill(-1) found anyone).
int KillRun();

}  // namespace coderun::runner
