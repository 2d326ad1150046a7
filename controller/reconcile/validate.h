// Checks a CodeRun's spec against what the API schema cannot know: the controller's maxima
// and supported languages.
#pragma once

#include <cstdint>
#include <string>
#include <variant>

#include "reconcile/settings.h"
#include "reconcile/types.h"

namespace coderun::reconcile {

// A spec that passed validation, in the units the Pod needs.
struct ValidLimits {
  std::int64_t timeout_seconds;
  std::int64_t cpu_milli;
  std::int64_t memory_bytes;
  std::int64_t pids;
  std::int64_t output_bytes;
};

// Either the limits, or one line naming the field and why it is refused
// ("spec.limits.memory: 8Gi is above the maximum 4Gi").
using Validation = std::variant<ValidLimits, std::string>;

Validation Validate(const CodeRun& run, const Settings& settings);

// Seconds a finished run is kept: spec.ttlSecondsAfterFinished, else the default TTL, never
// more than the maximum (a run refused for its TTL must not be kept that long either).
std::int64_t TtlSecondsAfterFinished(const CodeRun& run, const Settings& settings);

}  // namespace coderun::reconcile
