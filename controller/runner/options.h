// Command line of coderun-runner.
//
//   coderun-runner --input-dir=DIR --timeout-seconds=N --pids=N --output-bytes=N
//                  [--python=PATH] [--file-bytes=N] [--open-files=N]
//                  [--cgroup-root=DIR] [--kill-grace-millis=N]
//
// --input-dir        holds `code` (Python source), `stdin` (optional, default empty) and
//                    `args.json` (optional, a JSON array of strings, default [])
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
#pragma once

#include <cstdint>
#include <optional>
#include <string>
#include <vector>

namespace coderun::runner {

struct Options {
  std::string input_dir;
  int64_t timeout_seconds = 0;
  int64_t pids = 0;
  int64_t output_bytes = 0;
  std::string python = "python3";
  int64_t file_bytes = 64 << 20;
  int64_t open_files = 64;
  std::string cgroup_root = "/sys/fs/cgroup";
  int64_t drain_millis = 2000;
};

// Parses argv[1..]. Returns nullopt and sets *error to a one-line reason for unknown
// flags, missing required flags, malformed numbers and values out of range.
std::optional<Options> ParseOptions(const std::vector<std::string>& args, std::string* error);

}  // namespace coderun::runner
