// The runner's report: what one run of a program did, written once by the runner to its
// own stdout (the container log) and parsed by the controller from the Pod log.
//
// Frame (all of the log, nothing before or after):
//
//   coderun-report/v1 <N>\n      N: decimal byte length of the JSON document, no sign,
//   <JSON document, N bytes>\n       no leading zeros, at most kMaxReportJsonBytes
//   coderun-report-end\n
//
// The JSON document is one object on one line:
//   exitCode      int     exit status if the program exited, else -1
//   signal        int     signal that killed the program (0 if it exited)
//   wallMillis    uint    wall-clock time from start to the program's end
//   cpuMillis     uint    user + system CPU of every process of the run
//   maxRSSBytes   uint    peak memory: the cgroup's peak if readable, else the largest process
//   stdout        string  valid UTF-8, JsonEncodedSize <= the output cap
//   stderr        string  same
//   stdoutTruncated, stderrTruncated  bool  the stream holds less than the program wrote
//   stdoutBytes, stderrBytes          uint  bytes the program wrote in total
//   limit         string  "" (the program ended by itself), "time", "memory",
//                         "terminated" (the runner was stopped from outside)
//   runnerMessage string  notes of the runner, "" if none
//   runnerError   string  non-empty iff the runner could not run the program as asked
//                         (bad input, python3 missing, input not matching --input-digest,
//                         ...): the other fields then mean nothing about the program
//   tests         array   optional, judge mode only (docs/judge-mode.md): one object per test
//                         case the runner ran, in order, each with name (string) and the
//                         members exitCode .. limit above (the case's own); the top-level
//                         members then describe the run as a whole (exitCode 0 unless the
//                         runner failed, wall and CPU summed, the largest maxRSSBytes, empty
//                         streams, limit "terminated" if stopped from outside)
//   landlockAbi   int     optional (absent = 0): the Landlock ABI of the walls the program
//                         ran inside (runner/landlock.h); 0 = none (no Landlock in the
//                         kernel, refused by seccomp, or off), 1..5 = some walls missing
//                         (runnerMessage says which), >= 6 = all of them
// Unknown members are ignored by the parser (a newer runner may add some).
//
// The program never holds the runner's stdout or stderr, so a frame it prints travels
// JSON-escaped inside "stdout" and cannot be mistaken for the real one.
#pragma once

#include <cstddef>
#include <cstdint>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

namespace coderun::api {

inline constexpr std::string_view kReportHeader = "coderun-report/v1 ";
inline constexpr std::string_view kReportTrailer = "coderun-report-end\n";
// Larger documents are refused by the parser (the runner's output caps keep it far below).
inline constexpr size_t kMaxReportJsonBytes = 64 << 20;
// runnerMessage and runnerError are cut to this JSON-encoded size when written.
inline constexpr size_t kMaxMessageBytes = 4096;
// Upper bound of a whole frame for a given output cap: what the controller may pass as
// limitBytes when reading the log (both streams at the cap, the messages at theirs, the
// rest of the document and the frame lines in the remaining 4 KiB).
constexpr size_t MaxFrameBytes(size_t output_bytes) {
  return 2 * output_bytes + 2 * kMaxMessageBytes + 4096;
}

enum class Limit { kNone, kTime, kMemory, kTerminated };

// Frame bound of a judge run's report: `cases` cases with stdout kept up to
// `case_stdout_bytes` and stderr up to `case_stderr_bytes` each (JSON-encoded), plus room
// for each case's other members and name, and the run's own members.
constexpr size_t MaxJudgeFrameBytes(size_t cases, size_t case_stdout_bytes,
                                    size_t case_stderr_bytes) {
  return cases * (case_stdout_bytes + case_stderr_bytes + 512) + MaxFrameBytes(0);
}
// At most this many cases in one report (the CRD's bound).
inline constexpr size_t kMaxTestCases = 256;

// "", "time", "memory", "terminated".
std::string_view LimitName(Limit limit);

// What one run of the program did: a whole plain run, or one case of a judge run.
struct Outcome {
  int exit_code = -1;
  int signal = 0;
  uint64_t wall_millis = 0;
  uint64_t cpu_millis = 0;
  uint64_t max_rss_bytes = 0;
  std::string stdout_text;  // ("stdout" and "stderr" are macros)
  std::string stderr_text;
  bool stdout_truncated = false;
  bool stderr_truncated = false;
  uint64_t stdout_bytes = 0;
  uint64_t stderr_bytes = 0;
  Limit limit = Limit::kNone;

  bool operator==(const Outcome&) const = default;
};

// One test case of a judge run, as the runner ran it.
struct CaseReport : Outcome {
  std::string name;

  bool operator==(const CaseReport&) const = default;
};

// The run: its outcome (for a judge run, of the run as a whole) and the runner's notes.
struct Report : Outcome {
  std::string runner_message;
  std::string runner_error;
  int landlock_abi = 0;
  // Judge mode: the cases run, in order (empty otherwise; absent from the JSON then).
  std::vector<CaseReport> tests;

  bool operator==(const Report&) const = default;
};

// Returns the whole frame for `report`. Strings that are not valid UTF-8 are repaired
// (U+FFFD) first, so the result always parses. Never throws except std::bad_alloc.
std::string FormatReport(const Report& report);

// Parses a whole log holding exactly one frame. Returns nullopt and sets *error (if not
// null) to a one-line reason when the log is empty, cut short, holds anything besides the
// frame, the length does not match, the JSON is invalid, nested, or a member is missing or
// has the wrong type or range. Total and bounded: works in time and memory linear in
// log.size(), never throws except std::bad_alloc.
std::optional<Report> ParseReport(std::string_view log, std::string* error);

}  // namespace coderun::api
