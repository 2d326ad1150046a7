// Starting the program: python3 in a child with its own session, stdin from a file,
// stdout and stderr to two pipes, rlimits, a raised oom_score_adj, the Landlock ruleset
// and the seccomp filter.
//
// How Python is run. The code is not passed with -c (Linux caps one argv string at
// 128 KiB, the code may be 256 KiB) but read by a short bootstrap given to `python3 -c`
// from a file descriptor the runner opened (and checked, see input.h), which it closes;
// the bootstrap then
//   - sets sys.argv to ["-c", args...] exactly as `python3 -c CODE args...` would,
//   - compiles the code with filename "<string>" and runs it in a clean __main__,
//   - prints an uncaught exception with sys.excepthook minus the bootstrap's own frames
//     and exits 1, so tracebacks read as under `python3 -c`
//     (`File "<string>", line 1, in <module>`; a SyntaxError has no "Traceback" line),
//   - makes stdout line-buffered (a pipe would be block-buffered: a program killed at its
//     time limit keeps every complete line it printed; stderr is line-buffered already).
// SystemExit and exit codes pass through unchanged.
//
// The environment is the runner's minus KUBERNETES_* variables.
#pragma once

#include <sys/types.h>

#include <cstdint>
#include <string>
#include <vector>

namespace coderun::runner {

// The bootstrap passed to `python3 -c`; it expects the number of an inherited fd open on
// the code as sys.argv[1].
extern const char kPythonBootstrap[];

struct ProgramSpec {
  std::string python;  // path, or a name looked up in PATH
  int code_fd = -1;               // read (from its current offset) and closed by the bootstrap
  std::vector<std::string> args;  // sys.argv[1:]
  int stdin_fd = -1;              // becomes the program's fd 0
  int landlock_fd = -1;           // ruleset enforced on the program, -1 for none
  int64_t pids = 0;               // RLIMIT_NPROC
  int64_t file_bytes = 0;         // RLIMIT_FSIZE
  int64_t open_files = 0;         // RLIMIT_NOFILE
};

struct SpawnResult {
  pid_t pid = -1;          // the program, leader of its own session; -1 if it never ran
  int stdout_fd = -1;      // read ends, O_NONBLOCK | O_CLOEXEC, owned by the caller
  int stderr_fd = -1;
  std::string error;       // why the program could not be started ("" if it was)
  std::string warnings;    // non-fatal setup failures, "; "-separated
};

// Forks and execs the program. The calling process must be single-threaded. On error no
// child is left running (a child that failed before exec has been reaped) and no fds are
// returned. Signal mask and dispositions are reset to defaults in the child; it holds no
// fd of the caller but 0, 1, 2 and the code's (until the bootstrap has read it).
SpawnResult SpawnProgram(const ProgramSpec& spec);

}  // namespace coderun::runner
