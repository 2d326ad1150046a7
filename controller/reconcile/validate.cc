#include "reconcile/validate.h"

#include <algorithm>

#include "absl/strings/str_cat.h"
#include "api/coderun.h"

namespace coderun::reconcile {
namespace {

std::string AboveMax(absl::string_view field, absl::string_view value, absl::string_view max) {
  return absl::StrCat("spec.", field, ": ", value, " is above the maximum ", max,
                      " allowed by this controller");
}

}  // namespace

Validation Validate(const CodeRun& run, const Settings& s) {
  const Limits& l = run.limits;
  if (run.language != api::kLanguagePython) {
    return absl::StrCat("spec.language: \"", run.language, "\" is not supported (supported: ",
                        api::kLanguagePython, ")");
  }
  if (l.timeout_seconds < 1) return std::string("spec.limits.timeoutSeconds: must be at least 1");
  if (l.timeout_seconds > s.max_timeout_seconds) {
    return AboveMax("limits.timeoutSeconds", absl::StrCat(l.timeout_seconds),
                    absl::StrCat(s.max_timeout_seconds));
  }
  auto cpu = ParseQuantity(std::string_view(l.cpu));
  if (!cpu.ok()) return absl::StrCat("spec.limits.cpu: ", cpu.status().message());
  if (cpu->milli < 1) return absl::StrCat("spec.limits.cpu: ", l.cpu, " is below 1m");
  if (*cpu > s.max_cpu) {
    return AboveMax("limits.cpu", l.cpu, FormatMilli(s.max_cpu.milli));
  }
  auto memory = ParseQuantity(std::string_view(l.memory));
  if (!memory.ok()) return absl::StrCat("spec.limits.memory: ", memory.status().message());
  if (memory->Value() < 1) return absl::StrCat("spec.limits.memory: ", l.memory, " is zero");
  if (*memory > s.max_memory) {
    return AboveMax("limits.memory", l.memory, absl::StrCat(s.max_memory.Value(), " bytes"));
  }
  if (l.pids < 1) return std::string("spec.limits.pids: must be at least 1");
  if (l.pids > s.max_pids) {
    return AboveMax("limits.pids", absl::StrCat(l.pids), absl::StrCat(s.max_pids));
  }
  if (l.output_bytes < 0) return std::string("spec.limits.outputBytes: must not be negative");
  if (l.output_bytes > s.max_output_bytes) {
    return AboveMax("limits.outputBytes", absl::StrCat(l.output_bytes),
                    absl::StrCat(s.max_output_bytes));
  }
  if (run.ttl_seconds_after_finished &&
      *run.ttl_seconds_after_finished > s.max_ttl_seconds_after_finished) {
    return AboveMax("ttlSecondsAfterFinished", absl::StrCat(*run.ttl_seconds_after_finished),
                    absl::StrCat(s.max_ttl_seconds_after_finished));
  }
  return ValidLimits{l.timeout_seconds, cpu->milli, memory->Value(), l.pids, l.output_bytes};
}

std::int64_t TtlSecondsAfterFinished(const CodeRun& run, const Settings& s) {
  return std::min(run.ttl_seconds_after_finished.value_or(s.default_ttl_seconds),
                  s.max_ttl_seconds_after_finished);
}

}  // namespace coderun::reconcile
