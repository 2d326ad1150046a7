// Test helper: runs the real coderun-runner binary (not as PID 1: it becomes a child
// subreaper) on a temporary input directory, or with --await-request on bytes written to
// its stdin, and parses its stdout.
#pragma once

#include <fcntl.h>
#include <poll.h>
#include <signal.h>
#include <spawn.h>
#include <stdlib.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include <cerrno>
#include <chrono>
#include <cstdio>
#include <filesystem>
#include <fstream>
#include <functional>
#include <optional>
#include <string>
#include <vector>

#include "api/report.h"

namespace coderun::runner::testing {

using api::ParseReport;
using api::Report;

// The interpreter the runner is given: the real python3 behind PATH (not a pyenv shim).
inline const std::string& Python() {
  static const std::string path = [] {
    std::string found;
    if (FILE* p = popen("python3 -c 'import sys; print(sys.executable)' 2>/dev/null", "r")) {
      char buf[4096];
      while (fgets(buf, sizeof(buf), p) != nullptr) found += buf;
      pclose(p);
    }
    while (!found.empty() && (found.back() == '\n' || found.back() == '\r')) found.pop_back();
    return found.empty() ? std::string("/usr/bin/python3") : found;
  }();
  return path;
}

struct RunInput {
  std::string code;
  std::optional<std::string> stdin_text = "";
  std::optional<std::string> args_json = "[]";
  std::optional<std::string> nonce;  // the input directory's nonce file, if any
  int timeout_seconds = 10;
  int pids = 64;
  int output_bytes = 65536;
  std::vector<std::string> extra_flags;
  // Command the runner is started under (e.g. unshare ... setpriv ...), and the
  // interpreter if not Python().
  std::vector<std::string> wrapper;
  std::string python;
  // Judge mode: tests.json (with "@SCRATCH@" replaced by the path of a fresh directory
  // that becomes the only --writable-dir and already holds a file named "preexisting");
  // adds --tests.
  std::optional<std::string> tests_json;
  // Called with the runner's pid once it runs (to signal it, say).
  std::function<void(pid_t)> on_start;
  // --await-request in place of --input-dir (code, stdin_text, args_json and nonce unused):
  // these bytes go to the runner's stdin, a pipe, which then reaches EOF unless
  // keep_stdin_open (then it is closed once the runner has ended).
  std::optional<std::string> request_stream;
  bool keep_stdin_open = false;
};

struct RunOutput {
  int wait_status = -1;
  std::string log;  // the runner's stdout
  std::optional<Report> report;
  std::string parse_error;
  double seconds = 0;  // wall time of the runner
};

// A fresh directory under TMPDIR, removed at destruction.
class TempDir {
 public:
  TempDir() {
    std::string tmpl = (std::filesystem::temp_directory_path() / "runner_test.XXXXXX").string();
    path_ = mkdtemp(tmpl.data()) ? tmpl : "";
  }
  ~TempDir() {
    std::error_code ignored;
    std::filesystem::remove_all(path_, ignored);
  }
  const std::string& path() const { return path_; }
  void Write(const std::string& name, const std::string& data) const {
    std::ofstream(path_ + "/" + name, std::ios::binary) << data;
  }

 private:
  std::string path_;
};

// Runs the runner and waits for it for at most `deadline`; on timeout the runner is
// SIGKILLed and the output so far returned (the test then fails on the report).
inline RunOutput RunRunner(const RunInput& in,
                           std::chrono::milliseconds deadline = std::chrono::seconds(30)) {
  TempDir dir;
  dir.Write("code", in.code);
  if (in.stdin_text) dir.Write("stdin", *in.stdin_text);
  if (in.args_json) dir.Write("args.json", *in.args_json);
  if (in.nonce) dir.Write("nonce", *in.nonce);
  std::vector<std::string> judge_flags;
  if (in.tests_json) {
    const std::string scratch = dir.path() + "/scratch";
    mkdir(scratch.c_str(), 0777);
    chmod(scratch.c_str(), 0777);
    dir.Write("scratch/preexisting", "from before the run\n");
    std::string tests = *in.tests_json;
    for (size_t at; (at = tests.find("@SCRATCH@")) != std::string::npos;) {
      tests.replace(at, 9, scratch);
    }
    dir.Write("tests.json", tests);
    judge_flags = {"--tests", "--writable-dir=" + scratch};
  }
  chmod(dir.path().c_str(), 0755);  // readable by a runner under another UID
  std::vector<std::string> args = in.wrapper;
  const std::vector<std::string> runner_args = {
      CODERUN_RUNNER_PATH,
      in.request_stream ? std::string("--await-request") : "--input-dir=" + dir.path(),
      "--timeout-seconds=" + std::to_string(in.timeout_seconds),
      "--pids=" + std::to_string(in.pids),
      "--output-bytes=" + std::to_string(in.output_bytes),
      "--python=" + (in.python.empty() ? Python() : in.python),
      "--cgroup-root=" + dir.path() + "/no-cgroup",
  };
  args.insert(args.end(), runner_args.begin(), runner_args.end());
  args.insert(args.end(), judge_flags.begin(), judge_flags.end());
  args.insert(args.end(), in.extra_flags.begin(), in.extra_flags.end());
  std::vector<char*> argv;
  for (auto& a : args) argv.push_back(a.data());
  argv.push_back(nullptr);

  RunOutput out;
  int pipe_fds[2];
  if (pipe2(pipe_fds, O_CLOEXEC) != 0) return out;
  int stdin_fds[2] = {-1, -1};
  if (in.request_stream) {
    // The runner may stop reading before everything is written (that is tested).
    signal(SIGPIPE, SIG_IGN);
    if (pipe2(stdin_fds, O_CLOEXEC) != 0) return out;
    fcntl(stdin_fds[1], F_SETFL, O_NONBLOCK);
  }
  posix_spawn_file_actions_t actions;
  posix_spawn_file_actions_init(&actions);
  posix_spawn_file_actions_adddup2(&actions, pipe_fds[1], 1);
  if (in.request_stream) posix_spawn_file_actions_adddup2(&actions, stdin_fds[0], 0);
  const auto start = std::chrono::steady_clock::now();
  pid_t pid = -1;
  // A fixed environment, as in the container (no PYTHONUNBUFFERED from the developer's).
  char path_env[] = "PATH=/usr/local/bin:/usr/bin:/bin";
  char lang_env[] = "LANG=C.UTF-8";
  char* envp[] = {path_env, lang_env, nullptr};
  const int rc = posix_spawnp(&pid, argv[0], &actions, nullptr, argv.data(), envp);
  posix_spawn_file_actions_destroy(&actions);
  close(pipe_fds[1]);
  if (stdin_fds[0] >= 0) close(stdin_fds[0]);
  if (rc != 0) {
    close(pipe_fds[0]);
    if (stdin_fds[1] >= 0) close(stdin_fds[1]);
    return out;
  }
  if (in.on_start) in.on_start(pid);
  // The request is written as the runner takes it, while its output is read.
  size_t written = 0;
  const auto write_some = [&] {
    const std::string& data = *in.request_stream;
    if (written < data.size()) {
      const ssize_t n = write(stdin_fds[1], data.data() + written, data.size() - written);
      if (n > 0) written += static_cast<size_t>(n);
      if (n < 0 && errno != EAGAIN && errno != EINTR) written = data.size();  // EPIPE
    }
    if (written == data.size() && !in.keep_stdin_open) {
      close(stdin_fds[1]);
      stdin_fds[1] = -1;
    }
  };
  const auto until = start + deadline;
  for (;;) {
    const auto left = std::chrono::duration_cast<std::chrono::milliseconds>(
        until - std::chrono::steady_clock::now());
    if (left.count() <= 0) {
      kill(pid, SIGKILL);
      break;
    }
    const bool writing = stdin_fds[1] >= 0 && written < in.request_stream->size();
    pollfd pfds[2] = {{pipe_fds[0], POLLIN, 0}, {writing ? stdin_fds[1] : -1, POLLOUT, 0}};
    if (stdin_fds[1] >= 0 && !writing && !in.keep_stdin_open) write_some();  // empty stream
    if (poll(pfds, 2, static_cast<int>(left.count())) <= 0) continue;
    if (pfds[1].revents != 0) write_some();
    if (pfds[0].revents == 0) continue;
    char buf[65536];
    const ssize_t n = read(pipe_fds[0], buf, sizeof(buf));
    if (n <= 0) break;
    out.log.append(buf, static_cast<size_t>(n));
  }
  close(pipe_fds[0]);
  if (stdin_fds[1] >= 0) close(stdin_fds[1]);
  waitpid(pid, &out.wait_status, 0);
  out.seconds = std::chrono::duration<double>(std::chrono::steady_clock::now() - start).count();
  out.report = ParseReport(out.log, &out.parse_error);
  return out;
}

// True once `pid` no longer exists (or is a zombie nobody reaped), polling up to `deadline`.
inline bool GoneWithin(pid_t pid, std::chrono::milliseconds deadline) {
  const auto until = std::chrono::steady_clock::now() + deadline;
  do {
    std::ifstream stat("/proc/" + std::to_string(pid) + "/stat");
    std::string line;
    if (!stat || !std::getline(stat, line)) return true;
    const size_t paren = line.rfind(')');
    if (paren != std::string::npos && paren + 2 < line.size() && line[paren + 2] == 'Z') {
      return true;
    }
    usleep(10000);  // polling interval of the deadline loop, not synchronisation
  } while (std::chrono::steady_clock::now() < until);
  return false;
}

}  // namespace coderun::runner::testing
