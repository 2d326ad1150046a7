#include "runner/program.h"

#include <errno.h>
#include <fcntl.h>
#include <signal.h>
#include <string.h>
#include <sys/prctl.h>
#include <sys/resource.h>
#include <sys/wait.h>
#include <unistd.h>

#include <algorithm>
#include <cstdio>
#include <cstdlib>

#include "runner/landlock.h"
#include "runner/seccomp.h"

extern char** environ;

namespace coderun::runner {

const char kPythonBootstrap[] = R"PY(def _coderun_main():
    import sys, __main__
    del __main__.__dict__["_coderun_main"]
    code_fd = int(sys.argv.pop(1))
    sys.stdout.reconfigure(line_buffering=True)
    with open(code_fd, "rb") as f:
        source = f.read()
    try:
        code = compile(source, "<string>", "exec", dont_inherit=True)
        exec(code, __main__.__dict__)
    except SystemExit:
        raise
    except BaseException as e:
        e.__traceback__ = e.__traceback__.tb_next
        sys.excepthook(type(e), e, e.__traceback__)
        if isinstance(e, KeyboardInterrupt):
            import os, signal
            sys.stdout.flush()
            signal.signal(signal.SIGINT, signal.SIG_DFL)
            os.kill(os.getpid(), signal.SIGINT)
        sys.exit(1)
_coderun_main()
)PY";

namespace {

// Child side: reports a failure through the status pipe ("E" fatal, "W" warning).
void Tell(int fd, char kind, const char* what, int err) {
  char line[512];
  const int n = snprintf(line, sizeof(line), "%c%s: %s\n", kind, what, strerror(err));
  if (n > 0) {
    [[maybe_unused]] ssize_t ignored = write(fd, line, std::min<size_t>(n, sizeof(line) - 1));
  }
}

[[noreturn]] void Fatal(int fd, const char* what, int err) {
  Tell(fd, 'E', what, err);
  _exit(127);
}

// Closes every fd from 3 up but `keep_a` and `keep_b` (both >= 3).
void CloseFdsExcept(int keep_a, int keep_b) {
  const unsigned lo = static_cast<unsigned>(std::min(keep_a, keep_b));
  const unsigned hi = static_cast<unsigned>(std::max(keep_a, keep_b));
  if (lo > 3) close_range(3, lo - 1, 0);
  if (hi > lo + 1) close_range(lo + 1, hi - 1, 0);
  close_range(hi + 1, ~0U, 0);
}

bool SetLimit(int resource, int64_t value) {
  const rlimit limit = {static_cast<rlim_t>(value), static_cast<rlim_t>(value)};
  return setrlimit(resource, &limit) == 0;
}

// Runs in the forked child; never returns.
[[noreturn]] void ChildMain(const ProgramSpec& spec, char* const* argv, char* const* envp,
                            int out_w, int err_w, int status_w) {
  sigset_t all;
  sigemptyset(&all);
  sigprocmask(SIG_SETMASK, &all, nullptr);
  for (int sig = 1; sig < NSIG; ++sig) {
    if (sig != SIGKILL && sig != SIGSTOP) signal(sig, SIG_DFL);
  }
  if (setsid() < 0) Fatal(status_w, "setsid", errno);
  if (dup2(spec.stdin_fd, 0) < 0 || dup2(out_w, 1) < 0 || dup2(err_w, 2) < 0) {
    Fatal(status_w, "dup2", errno);
  }
  // A non-dumpable process cannot write its own /proc files; the child becomes dumpable
  // again here (execve would do so anyway), then may raise its OOM score.
  prctl(PR_SET_DUMPABLE, 1, 0, 0, 0);
  const int oom = open("/proc/self/oom_score_adj", O_WRONLY | O_CLOEXEC);
  if (oom < 0 || write(oom, "1000", 4) != 4) Tell(status_w, 'W', "oom_score_adj", errno);
  if (oom >= 0) close(oom);

  if (!SetLimit(RLIMIT_CORE, 0)) Fatal(status_w, "setrlimit(RLIMIT_CORE)", errno);
  if (!SetLimit(RLIMIT_FSIZE, spec.file_bytes)) Fatal(status_w, "setrlimit(RLIMIT_FSIZE)", errno);
  if (!SetLimit(RLIMIT_NOFILE, spec.open_files)) {
    Fatal(status_w, "setrlimit(RLIMIT_NOFILE)", errno);
  }
  if (!SetLimit(RLIMIT_NPROC, spec.pids)) Fatal(status_w, "setrlimit(RLIMIT_NPROC)", errno);

  // Last of the filesystem work above (oom_score_adj is a write outside the walls).
  if (spec.landlock_fd >= 0) {
    if (const int err = EnforceLandlock(spec.landlock_fd); err != 0) {
      Fatal(status_w, "landlock_restrict_self", err);
    }
  }
  // Keep only 0, 1, 2, the status pipe (close-on-exec) and the code for the bootstrap.
  if (fcntl(spec.code_fd, F_SETFD, 0) != 0) Fatal(status_w, "fcntl(code)", errno);
  CloseFdsExcept(status_w, spec.code_fd);

  const std::string seccomp_error = InstallSeccompFilter();
  if (!seccomp_error.empty()) Fatal(status_w, seccomp_error.c_str(), errno);
  execvpe(argv[0], argv, envp);
  Fatal(status_w, ("exec " + spec.python).c_str(), errno);
}

}  // namespace

SpawnResult SpawnProgram(const ProgramSpec& spec) {
  SpawnResult result;
  // Everything the child needs is built before fork.
  std::vector<std::string> arg_strings = {spec.python, "-c", kPythonBootstrap,
                                          std::to_string(spec.code_fd)};
  arg_strings.insert(arg_strings.end(), spec.args.begin(), spec.args.end());
  std::vector<char*> argv;
  for (std::string& s : arg_strings) argv.push_back(s.data());
  argv.push_back(nullptr);
  std::vector<char*> envp;
  for (char** e = environ; e != nullptr && *e != nullptr; ++e) {
    if (strncmp(*e, "KUBERNETES_", 11) != 0) envp.push_back(*e);
  }
  envp.push_back(nullptr);

  int out[2], err[2], status[2];
  if (pipe2(out, O_CLOEXEC) != 0) {
    result.error = std::string("pipe: ") + strerror(errno);
    return result;
  }
  if (pipe2(err, O_CLOEXEC) != 0) {
    result.error = std::string("pipe: ") + strerror(errno);
    close(out[0]), close(out[1]);
    return result;
  }
  if (pipe2(status, O_CLOEXEC) != 0) {
    result.error = std::string("pipe: ") + strerror(errno);
    close(out[0]), close(out[1]), close(err[0]), close(err[1]);
    return result;
  }
  const pid_t pid = fork();
  if (pid == 0) {
    close(out[0]), close(err[0]), close(status[0]);
    ChildMain(spec, argv.data(), envp.data(), out[1], err[1], status[1]);
  }
  const int fork_errno = errno;
  close(out[1]), close(err[1]), close(status[1]);
  if (pid < 0) {
    result.error = std::string("fork: ") + strerror(fork_errno);
    close(out[0]), close(err[0]), close(status[0]);
    return result;
  }
  // The status pipe reaches EOF at exec (close-on-exec) or when the child dies.
  std::string messages;
  char buf[512];
  for (;;) {
    const ssize_t n = read(status[0], buf, sizeof(buf));
    if (n < 0 && errno == EINTR) continue;
    if (n <= 0) break;
    messages.append(buf, static_cast<size_t>(n));
  }
  close(status[0]);
  for (size_t pos = 0; pos < messages.size();) {
    size_t eol = messages.find('\n', pos);
    if (eol == std::string::npos) eol = messages.size();
    const std::string text = messages.substr(pos + 1, eol - pos - 1);
    std::string& into = messages[pos] == 'E' ? result.error : result.warnings;
    if (!into.empty()) into += "; ";
    into += text;
    pos = eol + 1;
  }
  if (!result.error.empty()) {
    while (waitpid(pid, nullptr, 0) < 0 && errno == EINTR) {
    }
    close(out[0]), close(err[0]);
    return result;
  }
  fcntl(out[0], F_SETFL, O_NONBLOCK);
  fcntl(err[0], F_SETFL, O_NONBLOCK);
  result.pid = pid;
  result.stdout_fd = out[0];
  result.stderr_fd = err[0];
  return result;
}

}  // namespace coderun::runner
