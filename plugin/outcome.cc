#include "plugin/outcome.h"

#include <algorithm>

#include "absl/strings/str_cat.h"
#include "api/coderun.h"

namespace coderun::plugin {

std::string StringAt(const json& object, const char* pointer) {
  const json::json_pointer p(pointer);
  if (!object.contains(p)) return "";
  const json& v = object.at(p);
  return v.is_string() ? v.get<std::string>() : "";
}

long long IntAt(const json& object, const char* pointer, long long fallback) {
  const json::json_pointer p(pointer);
  if (!object.contains(p)) return fallback;
  const json& v = object.at(p);
  return v.is_number_integer() ? v.get<long long>() : fallback;
}

bool BoolAt(const json& object, const char* pointer) {
  const json::json_pointer p(pointer);
  if (!object.contains(p)) return false;
  const json& v = object.at(p);
  return v.is_boolean() && v.get<bool>();
}

std::string FormatTable(const std::vector<std::vector<std::string>>& rows) {
  std::vector<size_t> width;
  for (const auto& row : rows) {
    width.resize(std::max(width.size(), row.size()));
    for (size_t i = 0; i < row.size(); ++i) width[i] = std::max(width[i], row[i].size());
  }
  std::string out;
  for (const auto& row : rows) {
    std::string line;
    for (size_t i = 0; i < row.size(); ++i) {
      line += row[i];
      if (i + 1 < row.size()) line.append(width[i] - row[i].size() + 3, ' ');
    }
    while (!line.empty() && line.back() == ' ') line.pop_back();
    absl::StrAppend(&out, line, "\n");
  }
  return out;
}

bool IsFinished(const json& run) {
  const std::string phase = StringAt(run, "/status/phase");
  return phase == api::kPhaseSucceeded || phase == api::kPhaseFailed;
}

int ExitCodeFor(const json& run) {
  const std::string reason = StringAt(run, "/status/reason");
  const long long exit_code = IntAt(run, "/status/exitCode");
  const long long signal = IntAt(run, "/status/signal");
  // A judge run the platform completed: whether every case passed.
  if (reason == api::kReasonCompleted && run.contains(json::json_pointer("/status/testsTotal"))) {
    return StringAt(run, "/status/verdict") == "Accepted" ? 0 : kExitTestsFailed;
  }
  if (reason == api::kReasonCompleted) return 0;
  if (reason == api::kReasonTimeLimitExceeded) return kExitTimeLimit;
  if (reason == api::kReasonMemoryLimitExceeded) return kExitMemoryLimit;
  if (reason == api::kReasonInvalidSpec) return kExitInvalidSpec;
  if (reason == api::kReasonKilled && signal > 0 && signal < 128) return kExitSignalBase + signal;
  if (reason == api::kReasonNonZeroExit && exit_code > 0 && exit_code <= 255) return exit_code;
  // PodFailed, QueueTimeout, and anything this version does not know.
  return kExitCouldNotRun;
}

std::string EndingNote(const json& run) {
  const std::string reason = StringAt(run, "/status/reason");
  if (reason == api::kReasonCompleted || reason == api::kReasonNonZeroExit) return "";
  std::string what;
  if (reason == api::kReasonTimeLimitExceeded) {
    what = "time limit exceeded";
  } else if (reason == api::kReasonMemoryLimitExceeded) {
    what = "memory limit exceeded";
  } else if (reason == api::kReasonKilled) {
    what = absl::StrCat("killed by signal ", IntAt(run, "/status/signal"));
  } else if (reason == api::kReasonInvalidSpec) {
    what = "invalid spec";
  } else if (reason == api::kReasonPodFailed) {
    what = "the platform failed to run it (PodFailed)";
  } else if (reason == api::kReasonQueueTimeout) {
    what = "waited too long for a start slot (QueueTimeout)";
  } else {
    what = reason.empty() ? "ended" : reason;
  }
  const std::string message = StringAt(run, "/status/message");
  return message.empty() ? what : absl::StrCat(what, ": ", message);
}

std::string ProgressLine(const json& run) {
  const std::string phase = StringAt(run, "/status/phase");
  if (phase.empty()) return "";
  std::string line = phase;
  const std::string reason = StringAt(run, "/status/reason");
  if (!reason.empty() && reason != phase) absl::StrAppend(&line, ": ", reason);
  if (reason == api::kReasonQueued) {
    const long long position = IntAt(run, "/status/queuePosition", -1);
    if (position >= 0) absl::StrAppend(&line, " (position ", position, ")");
  }
  const std::string message = StringAt(run, "/status/message");
  if (!message.empty()) absl::StrAppend(&line, ": ", message);
  return line;
}

}  // namespace coderun::plugin
