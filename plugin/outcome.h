// What a finished CodeRun means to a shell: the exit status `kubectl coderun run` and
// `wait` end with, and the one line they add on stderr when the platform, not the program,
// decided the ending.
#pragma once

#include <string>
#include <vector>

#include "nlohmann/json.hpp"

namespace coderun::plugin {

using json = nlohmann::json;

// The program's own status is passed through (0-123, and 128+N for a signal N), so these
// mean what they mean to timeout(1), docker run and a shell.
inline constexpr int kExitTimeLimit = 124;    // TimeLimitExceeded, as timeout(1)
inline constexpr int kExitCouldNotRun = 125;  // PodFailed, QueueTimeout, API errors, bad flags
inline constexpr int kExitInvalidSpec = 126;  // InvalidSpec, or the schema refused the CodeRun
inline constexpr int kExitSignalBase = 128;   // Killed by signal N: 128+N
inline constexpr int kExitMemoryLimit = 137;  // MemoryLimitExceeded: 128+SIGKILL, as a shell shows an OOM kill
inline constexpr int kExitInterrupted = 130;  // Ctrl-C: 128+SIGINT
inline constexpr int kExitTestsFailed = 1;    // a judge run with a case not Accepted

// True when status.phase is Succeeded or Failed (a terminal status is never rewritten).
bool IsFinished(const json& run);

// The exit status for a finished run (see the constants above).
int ExitCodeFor(const json& run);

// "" when the program ended on its own (Completed, NonZeroExit); else one line saying what
// ended it, e.g. "time limit exceeded: ...", from status.reason and status.message.
std::string EndingNote(const json& run);

// One line for a run still waiting or running: "Pending: Queued (position 3)" or
// "Pending: Unschedulable: 0/1 nodes are available: ...". "" before the controller's first
// status.
std::string ProgressLine(const json& run);

// Rows as kubectl prints a table: each column padded to its widest cell plus three spaces,
// no trailing spaces, one line per row.
std::string FormatTable(const std::vector<std::vector<std::string>>& rows);

// A string, integer or boolean field at a JSON Pointer, or the default.
std::string StringAt(const json& object, const char* pointer);
long long IntAt(const json& object, const char* pointer, long long fallback = 0);
bool BoolAt(const json& object, const char* pointer);

}  // namespace coderun::plugin
