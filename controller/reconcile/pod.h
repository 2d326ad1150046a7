// Builders for what one run creates: its Secret and its Pod (DESIGN.md "What it creates per
// run"). Pure functions of the CodeRun, the settings and the allocated UID.
#pragma once

#include <cstdint>
#include <optional>
#include <string>

#include "kube/client.h"
#include "reconcile/settings.h"
#include "reconcile/types.h"
#include "reconcile/validate.h"

namespace coderun::reconcile {

inline constexpr char kInputMountPath[] = "/coderun/input";
inline constexpr char kRunnerPath[] = "/usr/local/bin/coderun-runner";

// "<name, cut to 52 characters, trailing '-' and '.' trimmed>-<10 hex of sha256(uid)>": a
// recreated CodeRun of the same name never meets its predecessor's Pod. Also the Secret's name.
std::string PodName(const std::string& coderun_name, const std::string& coderun_uid);

// The labels every run object carries (Pod, Secret).
kube::json RunLabels(const CodeRun& run);
// The controller ownerReference pointing at the CodeRun.
kube::json OwnerReference(const CodeRun& run);

// What reaches the runner through the run's Secret, and the digest that binds it to the Pod:
// the runner refuses to start the program when the mounted files do not hash to `digest`
// (api/input_digest.h), so a Secret replaced after the controller created it is never
// run. The random `nonce` (also in the Secret) keeps the digest, which anyone who may read
// Pods sees, from confirming a guess at a run's code or stdin.
// A judge run's `tests_json` (the Secret's tests.json) is a JSON array with one object per
// case of spec.tests, in order: {"name", "stdin", "args", "timeoutSeconds"}, all four always
// present (args [] when unset; timeoutSeconds the case's, else limits.timeoutSeconds).
// Expected outputs are never part of it. "" for a plain run.
struct RunInput {
  std::string code, stdin_data, args_json, tests_json, nonce, digest;
};
// From the full CodeRun `spec`, with a fresh random nonce. `default_timeout_seconds` is
// limits.timeoutSeconds (a judge case's timeout where it has none).
RunInput MakeRunInput(const kube::json& spec, std::int64_t default_timeout_seconds);

// What makes a spec impossible to run that the schema may not have refused (an object stored
// before the schema said so): an argument holding a NUL byte, which no argv can carry; test
// cases without a name, with a name that is not a DNS label, or with a name another case
// has. nullopt if none; else one line naming the field.
std::optional<std::string> InputProblem(const kube::json& spec);

// What a Secret's data may hold in total (the apiserver's limit, 1 MiB).
inline constexpr size_t kSecretDataLimitBytes = 1 << 20;
// nullopt when `input` fits one Secret; else one line saying by how much it does not.
std::optional<std::string> SecretProblem(const RunInput& input);

// The per-run Secret: keys "code", "stdin", "args.json" and "nonce", and "tests.json" for a
// judge run.
kube::json BuildSecret(const CodeRun& run, const RunInput& input);

// The runtimeClassName for runs of `language` ("" = none).
std::string RuntimeClassFor(const std::string& language, const Settings& settings);

// The runner container's resources: limits from the run, cpu request = limit x
// cpu_request_ratio (at least 1m), memory request = limit.
kube::json RunnerResources(const ValidLimits& limits, const Settings& settings);

// Adds the platform's placement settings (runtime class, priority class, node selector,
// tolerations, image pull secrets) to a Pod spec; unset ones stay absent.
void AddPlacement(const CodeRun& run, const Settings& settings, kube::json& pod_spec);

// The hardened runner Pod every run gets, cold or warm (pool.h): `metadata` as given, the
// runner's `args`, Linux UID `run_uid`, `input_secret` mounted read-only at kInputMountPath
// ("" = no input volume and the container's stdin open once: a warm Pod, whose input
// arrives on its stdin), activeDeadlineSeconds if given. Placement is the caller's.
kube::json RunnerPod(kube::json metadata, const ValidLimits& limits, const Settings& settings,
                     std::int64_t run_uid, kube::json args, const std::string& input_secret,
                     std::optional<std::int64_t> deadline_seconds);

// The run's Pod. `run_uid` is the Linux UID allocated for this run; `input_digest` is
// RunInput::digest, passed to the runner as --input-digest. Placement (runtime class, node
// selector, tolerations, priority class, image pull secrets) comes from `settings` only.
// A judge run (limits.judge) adds --tests, --case-stdout-bytes and, with
// spec.stopOnFirstFailure, --stop-on-failure; its --output-bytes is each case's stderr cap
// and its deadline covers every case (DeadlineSeconds).
kube::json BuildPod(const CodeRun& run, const ValidLimits& limits, const Settings& settings,
                    std::int64_t run_uid, const std::string& input_digest);

}  // namespace coderun::reconcile
