// Builders for what one run creates: its Secret and its Pod (DESIGN.md "What it creates per
// run"). Pure functions of the CodeRun, the settings and the allocated UID.
#pragma once

#include <cstdint>
#include <string>

#include "kube/client.h"
#include "reconcile/settings.h"
#include "reconcile/types.h"
#include "reconcile/validate.h"

namespace coderun::reconcile {

inline constexpr char kRunnerContainer[] = "runner";
inline constexpr char kInputMountPath[] = "/coderun/input";
inline constexpr char kRunnerPath[] = "/usr/local/bin/coderun-runner";

// "<name, cut to 52 characters, trailing '-' and '.' trimmed>-<10 hex of sha256(uid)>": a
// recreated CodeRun of the same name never meets its predecessor's Pod. Also the Secret's name.
std::string PodName(const std::string& coderun_name, const std::string& coderun_uid);

// The labels every run object carries (Pod, Secret).
kube::json RunLabels(const CodeRun& run);
// The controller ownerReference pointing at the CodeRun.
kube::json OwnerReference(const CodeRun& run);

// The per-run Secret: keys "code", "stdin", "args.json" from the full CodeRun `spec`.
kube::json BuildSecret(const CodeRun& run, const kube::json& spec);

// The runtimeClassName for runs of `language` ("" = none).
std::string RuntimeClassFor(const std::string& language, const Settings& settings);

// The run's Pod. `run_uid` is the Linux UID allocated for this run. Placement (runtime
// class, node selector, tolerations, priority class, image pull secrets) comes from
// `settings` only.
kube::json BuildPod(const CodeRun& run, const ValidLimits& limits, const Settings& settings,
                    std::int64_t run_uid);

}  // namespace coderun::reconcile
