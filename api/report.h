// The runner's report: what one run of a program did, written by the runner to its own
// stdout (the container log) and parsed by the controller from the Pod log.
//
// The log is zero or more case frames (judge mode only: one per test case, written as
// each case ends) followed by exactly one report frame, and nothing else:
//
//   coderun-case/v1 <N>\n        one per case run, in order; N as below
//   <JSON of one case, N bytes>\n
//   coderun-case-end\n
//   ...
//   coderun-report/v1 <N>\n      N: decimal byte length of the JSON document, no sign,
//   <JSON document, N bytes>\n       no leading zeros, at most kMaxReportJsonBytes
//   coderun-report-end\n
//
// A plain run's log is the report frame alone. A judge runner that dies mid-run (a
// container-wide OOM kill) leaves the case frames of the cases that ended before it, the
// last one possibly torn, and no report frame: ParseCases reads those.
//
// A case's JSON is one object on one line: name (string) and the members exitCode ..
// limit below, the case's own. The report's JSON is one object on one line:
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
//   tests         array   optional, judge mode of older runners only: the cases, one case
//                         JSON object each, in place of case frames (never both)
//   landlockAbi   int     optional (absent = 0): the Landlock ABI of the walls the program
//                         ran inside (runner/landlock.h); 0 = none (no Landlock in the
//                         kernel, refused by seccomp, or off), 1..5 = some walls missing
//                         (runnerMessage says which), >= 6 = all of them
//   inputDigest   string  optional (absent = ""): the InputDigest (input_digest.h; 64
//                         lowercase hex digits) of the input this report is about: the one
//                         --input-digest named and the runner verified, or that of the
//                         request it took (request.h, RequestDigest). Absent when the runner
//                         checked no digest or refused the input before knowing it. A
//                         reader trusts a report only for the input whose digest it carries.
// In judge mode the members exitCode .. limit describe the cases this runner ran as a whole
// (exitCode 0 unless the runner failed, wall and CPU summed, the largest maxRSSBytes, empty
// streams, limit "terminated" if stopped from outside). Unknown members are ignored by the
// parser (a newer runner may add some).
//
// The program never holds the runner's stdout or stderr, so a frame it prints travels
// JSON-escaped inside "stdout" and cannot be mistaken for a real one; and the runner
// writes a case frame only once every process of that case is gone.
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
inline constexpr std::string_view kCaseHeader = "coderun-case/v1 ";
inline constexpr std::string_view kCaseTrailer = "coderun-case-end\n";
// Larger documents (a report's or a case's) are refused by the parser (the runner's output
// caps keep them far below).
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

// Bound of a judge run's whole log: `cases` case frames with stdout kept up to
// `case_stdout_bytes` and stderr up to `case_stderr_bytes` each (JSON-encoded), plus 512
// bytes a case for its other members, a name of up to 63 bytes and the frame lines, and
// the report frame (no streams of its own).
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
  std::string input_digest;  // "" = none (not written)
  // Judge mode: the cases run, in order (empty otherwise; absent from the JSON then).
  std::vector<CaseReport> tests;

  bool operator==(const Report&) const = default;
};

// Returns the whole log for `report`: a case frame per element of report.tests (in order),
// then the report frame, whose JSON has no tests member. Strings that are not valid UTF-8
// are repaired (U+FFFD) first, so the result always parses. Never throws except
// std::bad_alloc.
std::string FormatReport(const Report& report);

// Returns the case frame of `test`, repaired as FormatReport repairs. Never throws except
// std::bad_alloc.
std::string FormatCase(const CaseReport& test);

// Parses a whole log: zero or more case frames, then exactly one report frame, nothing
// after it. The cases, from their frames or (older runners) from the report's tests
// member, become report.tests; a report with a tests member after case frames is refused.
// Returns nullopt and sets *error (if not null) to a one-line reason when the log is empty,
// cut short (a torn frame, no report frame), holds anything besides the frames (a case
// frame after the report included), more than kMaxTestCases cases, a length does not match,
// a JSON document is invalid, nested, or a member is missing or has the wrong type or range.
// Total and bounded: works in time and memory linear in log.size(), never throws except
// std::bad_alloc.
std::optional<Report> ParseReport(std::string_view log, std::string* error);

// For the log of a judge runner that died before its report (a container-wide OOM kill):
// the complete, valid case frames at the start of `log`, in order, at most kMaxTestCases.
// Stops, without error, at the first byte that does not begin a complete valid case frame
// (a torn last frame, the report frame, anything else); an empty result if `log` does not
// start with one. Total, linear in log.size(), never throws except std::bad_alloc.
std::vector<CaseReport> ParseCases(std::string_view log);

}  // namespace coderun::api
