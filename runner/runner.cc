#include "runner/runner.h"

#include <errno.h>
#include <fcntl.h>
#include <poll.h>
#include <signal.h>
#include <string.h>
#include <sys/prctl.h>
#include <sys/resource.h>
#include <sys/signalfd.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include <algorithm>
#include <chrono>

#include "runner/cgroup.h"
#include "runner/input.h"
#include "runner/landlock.h"
#include "runner/processes.h"
#include "runner/scratch.h"
#include "runner/program.h"
#include "runner/sys_error.h"
#include "api/request.h"
#include "api/utf8.h"

namespace coderun::runner {

using api::CutText;
using api::CutToEncodedSize;
using api::Limit;
using api::Report;

namespace {

using Clock = std::chrono::steady_clock;
using std::chrono::milliseconds;

// How long killing and reaping may take before the runner reports what it has.
constexpr milliseconds kReapDeadline{5000};

// One output stream: the first bytes kept, all of them counted.
struct Capture {
  int fd = -1;
  size_t keep = 0;  // bytes to keep: the cap plus room to finish a cut UTF-8 sequence
  std::string kept;
  uint64_t total = 0;

  // Reads what is available (bounded per call so both streams get served). Closes the fd
  // at EOF or on error.
  void ReadSome() {
    char buf[64 << 10];
    for (int i = 0; i < 16 && fd >= 0; ++i) {
      const ssize_t n = read(fd, buf, sizeof(buf));
      if (n < 0 && errno == EINTR) continue;
      if (n < 0 && errno == EAGAIN) return;
      if (n <= 0) {
        close(fd);
        fd = -1;
        return;
      }
      total += static_cast<uint64_t>(n);
      if (kept.size() < keep) kept.append(buf, std::min(keep - kept.size(), size_t(n)));
    }
  }
};

uint64_t Micros(const timeval& t) { return uint64_t(t.tv_sec) * 1000000 + t.tv_usec; }

// CPU time of the calling process (all threads), in nanoseconds.
uint64_t SelfCpuNanos() {
  rusage usage = {};
  getrusage(RUSAGE_SELF, &usage);
  return (Micros(usage.ru_utime) + Micros(usage.ru_stime)) * 1000;
}

uint64_t Millis(Clock::duration d) {
  return static_cast<uint64_t>(std::max<int64_t>(
      0, std::chrono::duration_cast<milliseconds>(d).count()));
}

// Everything a run is waiting for, and its state.
class Supervisor {
 public:
  Supervisor(const Options& options, int signal_fd, const CaseSink& on_case)
      : options_(options), signal_fd_(signal_fd), on_case_(on_case) {}

  Report Run();

 private:
  // Builds the Landlock ruleset of options_ (or none), noting what it lacks.
  LandlockRuleset PrepareLandlock();
  // --await-request: reads the request from stdin, then puts /dev/null on fd 0. Returns
  // false with report_.runner_error set if there is no valid request, or the run was stopped
  // meanwhile; else fills *input and sets report_.input_digest.
  bool AwaitRequest(RunnerInput* input);
  // One run of the program (a whole plain run, or one case of a judge run): spawns it with
  // `spec`, waits for it, its timer or a stop, kills and reaps every process, drains the
  // pipes and accounts for it. Usage is the case's own; `cgroup_peak` takes the memory peak
  // from the cgroup (a whole run) rather than from the largest process reaped.
  api::Outcome RunOnce(const ProgramSpec& spec, int64_t timeout_seconds, size_t stdout_cap,
                       size_t stderr_cap, bool cgroup_peak);
  // Judge mode: runs the cases of `input` from options_.first_case on, in order, handing
  // each to on_case_.
  void RunCases(const RunnerInput& input, ProgramSpec spec);
  // Waits for one event or until `until`; returns false once `until` has passed.
  bool WaitOnce(Clock::time_point until);
  void HandleSignals();
  void Reap();
  bool AcceptStop(const signalfd_siginfo& info) const;
  void KillAndReap();
  void Drain();
  void TruncateTerminationLog();
  void Note(const std::string& message) {
    // A judge run meets the same condition in many cases: said once.
    if (report_.runner_message.find(message) != std::string::npos) return;
    if (!report_.runner_message.empty()) report_.runner_message += "; ";
    report_.runner_message += message;
  }

  const Options& options_;
  const int signal_fd_;
  const CaseSink& on_case_;
  Report report_;
  Capture out_, err_;
  pid_t pid_ = -1;
  bool exited_ = false;  // pid_ was reaped
  int status_ = 0;
  bool stop_requested_ = false;
  bool no_children_ = false;  // waitpid said ECHILD
  uint64_t max_rss_kb_ = 0;   // the largest process reaped in this run of the program
  Clock::time_point end_;
};

bool Supervisor::AcceptStop(const signalfd_siginfo& info) const {
  // Only kill() and its kin mark a signal SI_USER, and they fill in the sender's pid as
  // the receiver's namespace sees it: 0 for a sender outside the PID namespace. The
  // program cannot fake that pair: SIGIO from F_SETOWN carries POLL_* codes, and
  // rt_sigqueueinfo to another process must carry a negative code.
  if (info.ssi_code != SI_USER) return false;
  if (info.ssi_pid == 0) return true;
  return getpid() != 1 && static_cast<pid_t>(info.ssi_pid) == getppid();
}

void Supervisor::Reap() {
  for (;;) {
    int status = 0;
    rusage usage = {};
    const pid_t pid = wait4(-1, &status, WNOHANG | __WALL, &usage);
    if (pid < 0 && errno == EINTR) continue;
    if (pid < 0 && errno == ECHILD) no_children_ = true;
    if (pid <= 0) return;
    max_rss_kb_ = std::max<uint64_t>(max_rss_kb_, static_cast<uint64_t>(usage.ru_maxrss));
    if (pid == pid_ && !exited_) {
      exited_ = true;
      status_ = status;
      end_ = Clock::now();
    }
  }
}

void Supervisor::HandleSignals() {
  signalfd_siginfo info;
  while (read(signal_fd_, &info, sizeof(info)) == sizeof(info)) {
    if (info.ssi_signo == SIGCHLD) continue;  // reaped below, whoever it was
    if (AcceptStop(info)) stop_requested_ = true;
  }
  Reap();
}

bool Supervisor::WaitOnce(Clock::time_point until) {
  const auto now = Clock::now();
  if (now >= until) return false;
  pollfd fds[3] = {{signal_fd_, POLLIN, 0}, {out_.fd, POLLIN, 0}, {err_.fd, POLLIN, 0}};
  const auto wait = std::chrono::ceil<milliseconds>(until - now).count();
  const int n = poll(fds, 3, static_cast<int>(std::min<int64_t>(wait, 1 << 30)));
  if (n < 0 && errno != EINTR) Note(Errno("poll"));
  if (n <= 0) return true;
  if (fds[1].revents != 0) out_.ReadSome();
  if (fds[2].revents != 0) err_.ReadSome();
  if (fds[0].revents != 0) HandleSignals();
  return true;
}

void Supervisor::KillAndReap() {
  const auto deadline = Clock::now() + kReapDeadline;
  for (;;) {
    if (pid_ > 0 && !exited_) kill(-pid_, SIGKILL);  // its session, in one call
    KillRun();
    Reap();
    if (no_children_) return;
    // Wait for SIGCHLD (or a short while: a process forked during the sweep is met by the
    // next one), reading the pipes meanwhile so no writer blocks on them.
    if (!WaitOnce(std::min(deadline, Clock::now() + milliseconds(20)))) {
      if (Clock::now() >= deadline) {
        Note("some processes of the run could not be reaped");
        return;
      }
    }
  }
}

void Supervisor::Drain() {
  const auto deadline = Clock::now() + milliseconds(options_.drain_millis);
  while (out_.fd >= 0 || err_.fd >= 0) {
    if (!WaitOnce(deadline)) {
      Note("output pipes still open after every process was killed; stopped reading");
      break;
    }
  }
  if (out_.fd >= 0) close(out_.fd);
  if (err_.fd >= 0) close(err_.fd);
}

// Where Landlock is absent the program could write the termination log (a file on the
// node's disk); once every process of the run is gone, what it wrote is dropped.
void Supervisor::TruncateTerminationLog() {
  if (options_.termination_log.empty()) return;
  const int fd = open(options_.termination_log.c_str(),
                      O_WRONLY | O_NOFOLLOW | O_NONBLOCK | O_NOCTTY | O_CLOEXEC);
  if (fd < 0) return;  // absent or not writable: nothing the program could have written
  struct stat st;
  if (fstat(fd, &st) == 0 && S_ISREG(st.st_mode) && st.st_size > 0) {
    if (ftruncate(fd, 0) == 0) {
      Note("the program wrote " + std::to_string(st.st_size) + " bytes to " +
           options_.termination_log + "; truncated");
    } else {
      Note(Errno("truncating " + options_.termination_log));
    }
  }
  close(fd);
}

Report Supervisor::Run() {
  RunnerInput input;
  LandlockRuleset landlock;
  if (options_.await_request) {
    // A warm runner readies all it can before the wait for its request, which may be long.
    landlock = PrepareLandlock();
    if (!AwaitRequest(&input)) return report_;
  } else {
    report_.runner_error =
        input.Open(options_.input_dir, options_.input_digest, options_.tests);
    if (!report_.runner_error.empty()) return report_;
    report_.input_digest = options_.input_digest;  // checked by Open ("" = none)
    if (options_.tests && static_cast<size_t>(options_.first_case) >= input.tests().size()) {
      report_.runner_error = "--first-case=" + std::to_string(options_.first_case) +
                             ": tests.json has only " + std::to_string(input.tests().size()) +
                             " cases";
      return report_;
    }
    landlock = PrepareLandlock();
  }
  ProgramSpec spec;
  spec.python = options_.python;
  spec.code_fd = input.code_fd();
  spec.stdin_fd = input.stdin_fd();
  spec.args = input.args();
  spec.pids = options_.pids;
  spec.file_bytes = options_.file_bytes;
  spec.open_files = options_.open_files;
  spec.landlock_fd = landlock.fd();

  if (options_.tests) {
    RunCases(input, spec);
    return report_;
  }
  const auto cap = static_cast<size_t>(options_.output_bytes);
  static_cast<api::Outcome&>(report_) =
      RunOnce(spec, options_.timeout_seconds, cap, cap, /*cgroup_peak=*/true);
  return report_;
}

LandlockRuleset Supervisor::PrepareLandlock() {
  if (!options_.landlock) {
    Note("Landlock off");
    return {};
  }
  std::vector<std::string> writable = options_.writable_dirs;
  writable.push_back("/dev/null");
  LandlockRuleset landlock = BuildLandlockRuleset(writable);
  if (!landlock.note().empty()) Note(landlock.note());
  report_.landlock_abi = landlock.abi();
  return landlock;
}

bool Supervisor::AwaitRequest(RunnerInput* input) {
  const RequestBytes got = ReadRequestBytes(0, signal_fd_, [this] {
    HandleSignals();
    return stop_requested_;
  });
  // The container's stdin goes (the program's is the request's); /dev/null keeps fd 0
  // taken, so that no fd opened later becomes 0 (a no-op dup2 in the child would keep it
  // close-on-exec).
  const int null_fd = open("/dev/null", O_RDONLY | O_CLOEXEC);
  const bool replaced = null_fd >= 0 && dup2(null_fd, 0) == 0;
  if (!replaced) report_.runner_error = Errno("replacing stdin with /dev/null");
  if (null_fd >= 0) close(null_fd);
  if (!replaced) return false;
  if (got.stopped) {
    report_.limit = Limit::kTerminated;
    report_.runner_error = "stopped while waiting for a request";
    return false;
  }
  std::string why = got.error;
  std::optional<api::Request> request;
  if (why.empty()) request = api::ParseRequest(got.data, &why);
  if (!request) {
    report_.runner_error = "request refused: " + why;
    return false;
  }
  // From here the report is about this request, whatever becomes of it.
  report_.input_digest = api::RequestDigest(*request);
  report_.runner_error = input->FromRequest(*request);
  return report_.runner_error.empty();
}

void Supervisor::RunCases(const RunnerInput& input, ProgramSpec spec) {
  // What the writable directories hold before the first case (nothing, in a run's Pod):
  // after each case everything else there goes, so no case sees what another left.
  std::vector<DirSnapshot> before;
  for (const std::string& dir : options_.writable_dirs) before.push_back(SnapshotDir(dir));
  const auto stdout_cap = static_cast<size_t>(options_.case_stdout_bytes);
  const auto stderr_cap = static_cast<size_t>(options_.output_bytes);
  report_.exit_code = 0;
  const auto& tests = input.tests();
  for (size_t i = static_cast<size_t>(options_.first_case); i < tests.size(); ++i) {
    const RunnerInput::TestCase& test = tests[i];
    if (stop_requested_) break;
    const int stdin_fd = SealedMemoryFile(test.stdin_data);
    if (stdin_fd < 0) {
      report_.runner_error = Errno("memfd for the stdin of case " + test.name);
      return;
    }
    // The bootstrap reads the code from the fd's offset; every case starts at 0.
    if (lseek(spec.code_fd, 0, SEEK_SET) != 0) {
      close(stdin_fd);
      report_.runner_error = Errno("rewinding the code");
      return;
    }
    spec.stdin_fd = stdin_fd;
    spec.args = test.args;
    api::CaseReport result;
    static_cast<api::Outcome&>(result) =
        RunOnce(spec, test.timeout_seconds, stdout_cap, stderr_cap, /*cgroup_peak=*/false);
    close(stdin_fd);
    // Not started (runner_error says why): no result to pass on, and no point going on.
    if (!report_.runner_error.empty()) return;
    for (const DirSnapshot& snapshot : before) {
      if (std::string error = RemoveAddedEntries(snapshot); !error.empty()) Note(error);
    }
    result.name = test.name;
    report_.wall_millis += result.wall_millis;
    report_.cpu_millis += result.cpu_millis;
    report_.max_rss_bytes = std::max(report_.max_rss_bytes, result.max_rss_bytes);
    const bool clean = result.limit == Limit::kNone && result.exit_code == 0 &&
                       result.signal == 0 && !result.stdout_truncated;
    const bool terminated = result.limit == Limit::kTerminated;
    // Out now, with nothing of the program left running: a kill of the whole container
    // (cgroup v2's memory.oom.group) in a later case loses none of this one.
    if (!on_case_(result)) return;
    if (terminated) {
      report_.limit = Limit::kTerminated;
      break;
    }
    if (options_.stop_on_failure && !clean) break;
  }
}

api::Outcome Supervisor::RunOnce(const ProgramSpec& spec, int64_t timeout_seconds,
                                 size_t stdout_cap, size_t stderr_cap, bool cgroup_peak) {
  api::Outcome result;
  pid_ = -1;
  exited_ = false;
  status_ = 0;
  no_children_ = false;
  max_rss_kb_ = 0;
  const CgroupMemory before = ReadCgroupMemory(options_.cgroup_root);
  const std::optional<uint64_t> cpu_before = ReadCgroupCpuNanos(options_.cgroup_root);
  const uint64_t self_before = SelfCpuNanos();
  rusage children_before = {};
  getrusage(RUSAGE_CHILDREN, &children_before);
  const auto start = Clock::now();
  SpawnResult spawned = SpawnProgram(spec);
  if (!spawned.error.empty()) {
    report_.runner_error = "starting the program: " + spawned.error;
    return result;
  }
  if (!spawned.warnings.empty()) Note("program setup: " + spawned.warnings);
  pid_ = spawned.pid;
  out_ = {spawned.stdout_fd, stdout_cap + 4, {}, 0};
  err_ = {spawned.stderr_fd, stderr_cap + 4, {}, 0};

  const auto deadline = start + std::chrono::seconds(timeout_seconds);
  bool timed_out = false;
  while (!exited_ && !stop_requested_) {
    if (!WaitOnce(deadline)) {
      timed_out = true;
      break;
    }
  }
  if (!exited_) end_ = Clock::now();
  const bool killed_by_us = !exited_;
  KillAndReap();
  Drain();

  result.wall_millis = Millis(end_ - start);
  rusage usage = {};
  getrusage(RUSAGE_CHILDREN, &usage);
  const std::optional<uint64_t> cpu_after = ReadCgroupCpuNanos(options_.cgroup_root);
  if (cpu_before && cpu_after && *cpu_after >= *cpu_before) {
    // The cgroup counts the runner too; its own CPU since the first sample is taken off.
    const uint64_t group = *cpu_after - *cpu_before, self = SelfCpuNanos() - self_before;
    result.cpu_millis = (group > self ? group - self : 0) / 1000000;
  } else {
    const uint64_t after = Micros(usage.ru_utime) + Micros(usage.ru_stime);
    const uint64_t earlier = Micros(children_before.ru_utime) + Micros(children_before.ru_stime);
    result.cpu_millis = (after > earlier ? after - earlier : 0) / 1000;
    Note("CPU time from wait status (cgroup CPU usage unreadable): processes the program "
         "did not wait for are not counted");
  }
  TruncateTerminationLog();
  const CgroupMemory after = ReadCgroupMemory(options_.cgroup_root);
  result.max_rss_bytes = cgroup_peak && after.peak_bytes ? *after.peak_bytes : max_rss_kb_ * 1024;

  if (exited_ && WIFEXITED(status_)) {
    result.exit_code = WEXITSTATUS(status_);
  } else if (exited_ && WIFSIGNALED(status_)) {
    result.signal = WTERMSIG(status_);
  } else {
    result.signal = SIGKILL;  // could not be reaped, but was sent SIGKILL
  }
  const bool oom = OomKillBetween(before, after);
  if (stop_requested_ && killed_by_us) {
    result.limit = Limit::kTerminated;
  } else if (timed_out) {
    result.limit = Limit::kTime;
  } else if (oom && result.signal == SIGKILL) {
    result.limit = Limit::kMemory;
  } else if (oom) {
    Note("a process of the run was killed for lack of memory");
  }

  CutText out = CutToEncodedSize(out_.kept, stdout_cap);
  CutText err = CutToEncodedSize(err_.kept, stderr_cap);
  result.stdout_text = std::move(out.text);
  result.stderr_text = std::move(err.text);
  result.stdout_bytes = out_.total;
  result.stderr_bytes = err_.total;
  result.stdout_truncated = out.raw_bytes < out_.total;
  result.stderr_truncated = err.raw_bytes < err_.total;
  return result;
}

}  // namespace

int PrepareProcess(std::string* error) {
  for (int fd = 0; fd <= 2; ++fd) {
    if (fcntl(fd, F_GETFD) < 0) {
      const int null_fd = open("/dev/null", O_RDWR);
      if (null_fd >= 0 && null_fd != fd) close(null_fd);  // lowest free fd: fd itself
    }
  }
  prctl(PR_SET_DUMPABLE, 0, 0, 0, 0);
  if (getpid() != 1 && prctl(PR_SET_CHILD_SUBREAPER, 1, 0, 0, 0) != 0) {
    *error = Errno("prctl(PR_SET_CHILD_SUBREAPER)");
    return -1;
  }
  signal(SIGPIPE, SIG_IGN);
  sigset_t set;
  sigemptyset(&set);
  for (int sig : {SIGCHLD, SIGTERM, SIGINT, SIGHUP, SIGQUIT}) sigaddset(&set, sig);
  if (sigprocmask(SIG_BLOCK, &set, nullptr) != 0) {
    *error = Errno("sigprocmask");
    return -1;
  }
  const int fd = signalfd(-1, &set, SFD_NONBLOCK | SFD_CLOEXEC);
  if (fd < 0) *error = Errno("signalfd");
  return fd;
}

Report RunProgram(const Options& options, int signal_fd, const CaseSink& on_case) {
  return Supervisor(options, signal_fd, on_case).Run();
}

}  // namespace coderun::runner
