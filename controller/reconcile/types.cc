#include "reconcile/types.h"

#include <algorithm>

#include "judge/compare.h"
#include "reconcile/network_policy.h"
#include "reconcile/status.h"

namespace coderun::reconcile {
namespace {

using kube::json;

std::string Str(const json& obj, const char* key) {
  auto it = obj.find(key);
  return it != obj.end() && it->is_string() ? it->get<std::string>() : std::string();
}

std::optional<std::int64_t> Int(const json& obj, const char* key) {
  auto it = obj.find(key);
  if (it != obj.end() && it->is_number_integer()) return it->get<std::int64_t>();
  return std::nullopt;
}

std::int64_t Time(const json& obj, const char* key) {
  return ParseTime(Str(obj, key)).value_or(0);
}

// A quantity field as text: strings as they are, numbers as JSON prints them.
std::string QuantityText(const json& obj, const char* key, const char* fallback) {
  auto it = obj.find(key);
  if (it == obj.end() || it->is_null()) return fallback;
  return it->is_string() ? it->get<std::string>() : it->dump();
}

const json& Obj(const json& obj, const char* key) {
  static const json kEmpty = json::object();
  auto it = obj.find(key);
  return it != obj.end() && it->is_object() ? *it : kEmpty;
}

const json& Arr(const json& obj, const char* key) {
  static const json kEmpty = json::array();
  auto it = obj.find(key);
  return it != obj.end() && it->is_array() ? *it : kEmpty;
}

absl::Status CheckMetadata(const json& object, const char* kind) {
  if (!object.is_object() || !Obj(object, "metadata").contains("name")) {
    return absl::InvalidArgumentError(std::string(kind) + " without metadata.name");
  }
  return absl::OkStatus();
}

// The controller ownerReference's uid, kind and name (left empty without one).
void ControllerOf(const json& meta, std::string& uid, std::string& kind, std::string& name) {
  for (const json& ref : Arr(meta, "ownerReferences")) {
    if (ref.is_object() && ref.value("controller", false)) {
      uid = Str(ref, "uid");
      kind = Str(ref, "kind");
      name = Str(ref, "name");
    }
  }
}

std::optional<double> Number(const json& obj, const char* key) {
  auto it = obj.find(key);
  if (it != obj.end() && it->is_number()) return it->get<double>();
  return std::nullopt;
}

JudgeSpec DecodeJudge(const json& spec, std::int64_t default_timeout) {
  JudgeSpec j;
  const json& tests = Arr(spec, "tests");
  j.cases = static_cast<std::int64_t>(tests.size());
  for (const json& t : tests) {
    const std::int64_t timeout =
        t.is_object() ? Int(t, "timeoutSeconds").value_or(default_timeout) : default_timeout;
    j.timeout_sum_seconds += timeout;
    if (j.min_case_timeout_seconds == 0 || timeout < j.min_case_timeout_seconds) {
      j.min_case_timeout_seconds = timeout;
    }
    j.max_case_timeout_seconds = std::max(j.max_case_timeout_seconds, timeout);
  }
  const json& compare = Obj(spec, "compare");
  j.compare_mode = Str(compare, "mode");
  if (j.compare_mode.empty()) {
    j.compare_mode = judge::CompareModeName(judge::CompareSpec{}.mode);
  }
  j.absolute_tolerance = Number(compare, "absoluteTolerance").value_or(judge::kDefaultAbsoluteTolerance);
  j.relative_tolerance = Number(compare, "relativeTolerance").value_or(judge::kDefaultRelativeTolerance);
  if (auto it = spec.find("stopOnFirstFailure"); it != spec.end() && it->is_boolean()) {
    j.stop_on_first_failure = it->get<bool>();
  }
  return j;
}

}  // namespace

const kube::DropKeys& CodeRunDropKeys() {
  static const kube::DropKeys paths = {
      "/metadata/managedFields", "/metadata/annotations", "/spec/code",    "/spec/stdin",
      "/spec/args",              "/status/stdout",        "/status/stderr",
      "/spec/tests/*/name",      "/spec/tests/*/stdin",   "/spec/tests/*/args",
      "/spec/tests/*/expectedStdout", "/status/tests"};
  return paths;
}

const kube::DropKeys& MetadataDropKeys() {
  static const kube::DropKeys paths = {"/metadata/managedFields", "/metadata/annotations"};
  return paths;
}

const kube::DropKeys& NetworkPolicyDropKeys() { return MetadataDropKeys(); }

absl::StatusOr<CodeRun> DecodeCodeRun(const json& object) {
  if (auto s = CheckMetadata(object, "CodeRun"); !s.ok()) return s;
  const json& meta = object["metadata"];
  const json& spec = Obj(object, "spec");
  const json& limits = Obj(spec, "limits");
  const json& status = Obj(object, "status");
  CodeRun run;
  run.ns = Str(meta, "namespace");
  run.name = Str(meta, "name");
  run.uid = Str(meta, "uid");
  run.resource_version = Str(meta, "resourceVersion");
  run.creation_time = Time(meta, "creationTimestamp");
  run.generation = Int(meta, "generation").value_or(0);
  run.deleting = meta.contains("deletionTimestamp");
  run.language = Str(spec, "language");
  if (run.language.empty()) run.language = api::kDefaultLanguage;
  run.limits.timeout_seconds = Int(limits, "timeoutSeconds").value_or(api::kDefaultTimeoutSeconds);
  run.limits.cpu = QuantityText(limits, "cpu", api::kDefaultCpu);
  run.limits.memory = QuantityText(limits, "memory", api::kDefaultMemory);
  run.limits.pids = Int(limits, "pids").value_or(api::kDefaultPids);
  run.limits.output_bytes = Int(limits, "outputBytes").value_or(api::kDefaultOutputBytes);
  run.judge = DecodeJudge(spec, run.limits.timeout_seconds);
  run.ttl_seconds_after_finished = Int(spec, "ttlSecondsAfterFinished");
  run.queue_name = Str(Obj(meta, "labels"), kQueueNameLabel);
  run.priority = Int(spec, "priority").value_or(api::kDefaultPriority);
  run.phase = Str(status, "phase");
  run.reason = Str(status, "reason");
  run.message = Str(status, "message");
  run.pod_name = Str(status, "podName");
  run.pod_uid = Str(status, "podUID");
  run.queue_position = Int(status, "queuePosition");
  run.start_time = Time(status, "startTime");
  run.completion_time = Time(status, "completionTime");
  run.exit_code = Int(status, "exitCode");
  run.observed_generation = Int(status, "observedGeneration").value_or(0);
  for (const json& cond : Arr(status, "conditions")) {
    if (Str(cond, "type") == api::kConditionFinished) {
      run.finished_condition_status = Str(cond, "status");
      run.finished_condition_time = Time(cond, "lastTransitionTime");
    }
  }
  return run;
}

absl::StatusOr<Pod> DecodePod(const json& object) {
  if (auto s = CheckMetadata(object, "Pod"); !s.ok()) return s;
  const json& meta = object["metadata"];
  const json& spec = Obj(object, "spec");
  const json& status = Obj(object, "status");
  Pod pod;
  pod.ns = Str(meta, "namespace");
  pod.name = Str(meta, "name");
  pod.uid = Str(meta, "uid");
  pod.creation_timestamp = Str(meta, "creationTimestamp");
  pod.deleting = meta.contains("deletionTimestamp");
  pod.run_uid_label = Str(Obj(meta, "labels"), kUidLabel);
  ControllerOf(meta, pod.controller_uid, pod.controller_kind, pod.controller_name);
  pod.run_as_user = Int(Obj(spec, "securityContext"), "runAsUser");
  pod.phase = Str(status, "phase");
  pod.reason = Str(status, "reason");
  pod.message = Str(status, "message");
  pod.start_time = Str(status, "startTime");
  for (const json& cond : Arr(status, "conditions")) {
    if (Str(cond, "type") == "PodScheduled" && Str(cond, "status") == "False") {
      pod.has_unschedulable = true;
      pod.unschedulable_message = Str(cond, "message");
      if (pod.unschedulable_message.empty()) pod.unschedulable_message = Str(cond, "reason");
    }
  }
  for (const json& cs : Arr(status, "containerStatuses")) {
    if (Str(cs, "name") != api::kRunnerContainer) continue;
    const json& state = Obj(cs, "state");
    if (state.contains("terminated")) {
      const json& t = Obj(state, "terminated");
      ContainerTerminated term;
      term.exit_code = static_cast<std::int32_t>(Int(t, "exitCode").value_or(0));
      term.signal = static_cast<std::int32_t>(Int(t, "signal").value_or(0));
      term.reason = Str(t, "reason");
      term.message = Str(t, "message");
      term.started_at = Str(t, "startedAt");
      term.finished_at = Str(t, "finishedAt");
      pod.terminated = std::move(term);
    } else if (state.contains("waiting")) {
      const json& w = Obj(state, "waiting");
      pod.waiting = ContainerWaiting{Str(w, "reason"), Str(w, "message")};
    } else if (state.contains("running")) {
      pod.running = true;
      pod.running_started_at = Str(Obj(state, "running"), "startedAt");
    }
  }
  return pod;
}

absl::StatusOr<NetworkPolicy> DecodeNetworkPolicy(const json& object) {
  if (auto s = CheckMetadata(object, "NetworkPolicy"); !s.ok()) return s;
  const json& meta = object["metadata"];
  NetworkPolicy np;
  np.ns = Str(meta, "namespace");
  np.name = Str(meta, "name");
  np.uid = Str(meta, "uid");
  np.resource_version = Str(meta, "resourceVersion");
  np.managed = Str(Obj(meta, "labels"), kManagedByLabel) == kManagedByValue;
  const json& spec = Obj(object, "spec");
  np.deny_all_spec = spec == DenyAllSpec();
  auto selector = spec.find("podSelector");
  np.selects_run_pods = selector == spec.end() || SelectorMaySelectRunPods(*selector);
  np.has_ingress_rules = !Arr(spec, "ingress").empty();
  np.has_egress_rules = !Arr(spec, "egress").empty();
  return np;
}

absl::StatusOr<Workload> DecodeWorkload(const json& object) {
  if (auto s = CheckMetadata(object, "Workload"); !s.ok()) return s;
  const json& meta = object["metadata"];
  const json& spec = Obj(object, "spec");
  const json& status = Obj(object, "status");
  Workload w;
  w.ns = Str(meta, "namespace");
  w.name = Str(meta, "name");
  w.uid = Str(meta, "uid");
  w.resource_version = Str(meta, "resourceVersion");
  w.deleting = meta.contains("deletionTimestamp");
  ControllerOf(meta, w.controller_uid, w.controller_kind, w.controller_name);
  w.queue_name = Str(spec, "queueName");
  if (auto it = spec.find("active"); it != spec.end() && it->is_boolean()) w.active = it->get<bool>();
  w.pod_sets = Arr(spec, "podSets");
  w.conditions = Arr(status, "conditions");
  for (const json& cond : w.conditions) {
    if (Str(cond, "status") != "True") continue;
    const std::string type = Str(cond, "type");
    if (type == "Admitted") {
      w.admitted = true;
      w.admitted_time = Time(cond, "lastTransitionTime");
    } else if (type == "Evicted") {
      w.evicted = true;
      w.evicted_reason = Str(cond, "reason");
      w.evicted_message = Str(cond, "message");
    } else if (type == "Finished") {
      w.finished = true;
    }
  }
  for (const json& assignment : Arr(Obj(status, "admission"), "podSetAssignments")) {
    for (const auto& [resource, flavor] : Obj(assignment, "flavors").items()) {
      if (!flavor.is_string()) continue;
      const std::string& name = flavor.get_ref<const std::string&>();
      if (std::find(w.flavors.begin(), w.flavors.end(), name) == w.flavors.end()) {
        w.flavors.push_back(name);
      }
    }
  }
  return w;
}

}  // namespace coderun::reconcile
