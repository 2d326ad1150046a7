// Command line of coderun-runner.
//
//   coderun-runner (--input-dir=DIR | --await-request)
//                  --timeout-seconds=N --pids=N --output-bytes=N
//                  [--python=PATH] [--file-bytes=N] [--open-files=N]
//                  [--cgroup-root=DIR] [--drain-millis=N] [--input-digest=HEX]
//                  [--writable-dir=DIR]... [--termination-log=PATH] [--landlock=auto|off]
//                  [--tests [--case-stdout-bytes=N] [--stop-on-failure] [--first-case=K]]
//
// --input-dir        holds `code` (Python source), `stdin` (optional, default empty) and
//                    `args.json` (optional, a JSON array of strings, default [])
// --await-request    a warm Pod's runner: instead of an input directory, the input is one
//                    request frame (api/request.h) read from the runner's stdin once every
//                    other setup is done. Reading stops at EOF, at the frame's trailer
//                    (bytes after it are never read) or as soon as what came cannot begin a
//                    valid frame; stdin is closed then (/dev/null takes fd 0). A torn,
//                    malformed or oversized request is refused (runnerError "request
//                    refused: <why>") and the program never starts; else it runs as a
//                    Secret-fed run with that code, stdin and args, and the report carries
//                    the request's digest (inputDigest). An accepted SIGTERM while waiting
//                    ends the runner with limit "terminated" and a runnerError. Excludes
//                    --input-dir, --input-digest and --tests
// --timeout-seconds  wall-clock limit of the program, 1..86400
// --pids             RLIMIT_NPROC of the program (counts every task of the run's UID,
//                    the runner included), 1..1048576
// --output-bytes     cap on each of stdout and stderr, counted as JSON-encoded size,
//                    0..16 MiB
// --python           interpreter, looked up in PATH if it has no '/' (default python3)
// --file-bytes       RLIMIT_FSIZE of the program (default 64 MiB)
// --open-files       RLIMIT_NOFILE of the program (default 64)
// --cgroup-root      where the container's cgroup filesystem is (default /sys/fs/cgroup)
// --drain-millis     how long the pipes are drained after every process is gone
//                    (default 2000)
// --input-digest     64 lowercase hex digits: InputDigest (runner/input_digest.h) of the
//                    input directory's nonce, code, stdin and args.json files. When given,
//                    a run whose input does not hash to it is refused (runnerError) and
//                    the program is never started; the report's inputDigest names it when
//                    it matched. Default: no check.
// --writable-dir     a memory-backed directory beneath which the program may create,
//                    write and remove files; repeatable, the first occurrence replaces the
//                    default (/tmp, the run's emptyDir, and /dev/shm, the Pod's shm tmpfs
//                    that Python's multiprocessing needs). Where Landlock exists, nothing
//                    else but /dev/null is writable; directories that do not exist are
//                    skipped.
// --termination-log  the kubelet's termination message file, truncated after the run
//                    if the program wrote to it (default /dev/termination-log; "" = none)
// --landlock         auto (default): restrict the program with every Landlock wall the
//                    kernel offers; off: do not (tests of the walls behind it)
// --tests            judge mode (docs/judge-mode.md): the input directory also holds
//                    `tests.json`, [{"name", "stdin", "args", "timeoutSeconds"}], and the
//                    program runs once per case (its stdin, args and time limit), each in a
//                    fresh process tree and with what it left in the writable directories
//                    removed; --input-digest then covers tests.json too (stdin and
//                    args.json are ignored). --output-bytes caps each case's stderr
// --case-stdout-bytes  judge mode: cap on each case's stdout (default --output-bytes)
// --stop-on-failure  judge mode: no case runs after one that did not exit 0 by itself
// --first-case       judge mode: run the cases of tests.json from index K (0-based) on,
//                    the earlier ones not at all (a run continued in a new Pod after the
//                    old one died in case K-1); default 0. K must be below the number of
//                    cases (else runnerError). The report's top level sums up only the
//                    cases run; --input-digest still covers all of tests.json
#pragma once

#include <cstdint>
#include <optional>
#include <string>
#include <vector>

namespace coderun::runner {

struct Options {
  std::string input_dir;
  bool await_request = false;  // the input is a request frame on stdin (api/request.h)
  int64_t timeout_seconds = 0;
  int64_t pids = 0;
  int64_t output_bytes = 0;
  std::string python = "python3";
  int64_t file_bytes = 64 << 20;
  int64_t open_files = 64;
  std::string cgroup_root = "/sys/fs/cgroup";
  int64_t drain_millis = 2000;
  std::string input_digest;  // "" = no check
  std::vector<std::string> writable_dirs = {"/tmp", "/dev/shm"};
  std::string termination_log = "/dev/termination-log";
  bool landlock = true;
  bool tests = false;
  int64_t case_stdout_bytes = -1;  // -1: output_bytes
  bool stop_on_failure = false;
  int64_t first_case = 0;
};

// Parses argv[1..]. Returns nullopt and sets *error to a one-line reason for unknown
// flags, missing required flags, malformed numbers and values out of range.
std::optional<Options> ParseOptions(const std::vector<std::string>& args, std::string* error);

}  // namespace coderun::runner
