#include "reconcile/types.h"

#include <algorithm>

#include "judge/compare.h"
#include "reconcile/network_policy.h"
#include "reconcile/status.h"

namespace coderun::reconcile {
namespace {

using kube::json;


std::optional<std::int64_t> Int(const json& obj, const char* key) {
  auto it = obj.find(key);
  if (it != obj.end() && it->is_number_integer()) return it->get<std::int64_t>();
  return std::nullopt;
}

std::int64_t Time(const json& obj, const char* key) {
  return ParseTime(StringField(obj, key)).value_or(0);
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
      uid = StringField(ref, "uid");
      kind = StringField(ref, "kind");
      name = StringField(ref, "name");
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
  j.compare_mode = StringField(compare, "mode");
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

std::string StringField(const json& obj, const char* key) {
  auto it = obj.find(key);
  return it != obj.end() && it->is_string() ? it->get<std::string>() : std::string();
}

const json& SpecTests(const json& spec) {
  static const json kNone = json::array();
  auto it = spec.find("tests");
  return it != spec.end() && it->is_array() ? *it : kNone;
}

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

Limits DecodeLimits(const json& limits) {
  Limits l;
  l.timeout_seconds = Int(limits, "timeoutSeconds").value_or(api::kDefaultTimeoutSeconds);
  l.cpu = QuantityText(limits, "cpu", api::kDefaultCpu);
  l.memory = QuantityText(limits, "memory", api::kDefaultMemory);
  l.pids = Int(limits, "pids").value_or(api::kDefaultPids);
  l.output_bytes = Int(limits, "outputBytes").value_or(api::kDefaultOutputBytes);
  return l;
}

absl::StatusOr<CodeRun> DecodeCodeRun(const json& object) {
  if (auto s = CheckMetadata(object, "CodeRun"); !s.ok()) return s;
  const json& meta = object["metadata"];
  const json& spec = Obj(object, "spec");
  const json& limits = Obj(spec, "limits");
  const json& status = Obj(object, "status");
  CodeRun run;
  run.ns = StringField(meta, "namespace");
  run.name = StringField(meta, "name");
  run.uid = StringField(meta, "uid");
  run.resource_version = StringField(meta, "resourceVersion");
  run.creation_time = Time(meta, "creationTimestamp");
  run.generation = Int(meta, "generation").value_or(0);
  run.deleting = meta.contains("deletionTimestamp");
  run.language = StringField(spec, "language");
  if (run.language.empty()) run.language = api::kDefaultLanguage;
  run.limits = DecodeLimits(limits);
  run.judge = DecodeJudge(spec, run.limits.timeout_seconds);
  run.ttl_seconds_after_finished = Int(spec, "ttlSecondsAfterFinished");
  run.queue_name = StringField(Obj(meta, "labels"), kQueueNameLabel);
  run.priority = Int(spec, "priority").value_or(api::kDefaultPriority);
  run.phase = StringField(status, "phase");
  run.reason = StringField(status, "reason");
  run.message = StringField(status, "message");
  run.pod_name = StringField(status, "podName");
  run.pod_uid = StringField(status, "podUID");
  run.queue_position = Int(status, "queuePosition");
  run.next_case = Int(status, "nextCase").value_or(0);
  run.warm_pool = StringField(status, "warmPool");
  run.input_digest = StringField(status, "inputDigest");
  run.start_time = Time(status, "startTime");
  run.completion_time = Time(status, "completionTime");
  run.exit_code = Int(status, "exitCode");
  run.observed_generation = Int(status, "observedGeneration").value_or(0);
  for (const json& cond : Arr(status, "conditions")) {
    if (StringField(cond, "type") == api::kConditionFinished) {
      run.finished_condition_status = StringField(cond, "status");
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
  pod.ns = StringField(meta, "namespace");
  pod.name = StringField(meta, "name");
  pod.uid = StringField(meta, "uid");
  pod.creation_timestamp = StringField(meta, "creationTimestamp");
  pod.deleting = meta.contains("deletionTimestamp");
  pod.run_uid_label = StringField(Obj(meta, "labels"), kUidLabel);
  ControllerOf(meta, pod.controller_uid, pod.controller_kind, pod.controller_name);
  pod.run_as_user = Int(Obj(spec, "securityContext"), "runAsUser");
  pod.phase = StringField(status, "phase");
  pod.reason = StringField(status, "reason");
  pod.message = StringField(status, "message");
  pod.start_time = StringField(status, "startTime");
  for (const json& cond : Arr(status, "conditions")) {
    if (StringField(cond, "type") == "PodScheduled" && StringField(cond, "status") == "False") {
      pod.has_unschedulable = true;
      pod.unschedulable_message = StringField(cond, "message");
      if (pod.unschedulable_message.empty()) pod.unschedulable_message = StringField(cond, "reason");
    }
  }
  for (const json& cs : Arr(status, "containerStatuses")) {
    if (StringField(cs, "name") != api::kRunnerContainer) continue;
    const json& state = Obj(cs, "state");
    if (state.contains("terminated")) {
      const json& t = Obj(state, "terminated");
      ContainerTerminated term;
      term.exit_code = static_cast<std::int32_t>(Int(t, "exitCode").value_or(0));
      term.signal = static_cast<std::int32_t>(Int(t, "signal").value_or(0));
      term.reason = StringField(t, "reason");
      term.message = StringField(t, "message");
      term.started_at = StringField(t, "startedAt");
      term.finished_at = StringField(t, "finishedAt");
      pod.terminated = std::move(term);
    } else if (state.contains("waiting")) {
      const json& w = Obj(state, "waiting");
      pod.waiting = ContainerWaiting{StringField(w, "reason"), StringField(w, "message")};
    } else if (state.contains("running")) {
      pod.running = true;
      pod.running_started_at = StringField(Obj(state, "running"), "startedAt");
    }
  }
  return pod;
}

absl::StatusOr<NetworkPolicy> DecodeNetworkPolicy(const json& object) {
  if (auto s = CheckMetadata(object, "NetworkPolicy"); !s.ok()) return s;
  const json& meta = object["metadata"];
  NetworkPolicy np;
  np.ns = StringField(meta, "namespace");
  np.name = StringField(meta, "name");
  np.uid = StringField(meta, "uid");
  np.resource_version = StringField(meta, "resourceVersion");
  np.managed = StringField(Obj(meta, "labels"), kManagedByLabel) == kManagedByValue;
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
  w.ns = StringField(meta, "namespace");
  w.name = StringField(meta, "name");
  w.uid = StringField(meta, "uid");
  w.resource_version = StringField(meta, "resourceVersion");
  w.deleting = meta.contains("deletionTimestamp");
  ControllerOf(meta, w.controller_uid, w.controller_kind, w.controller_name);
  w.queue_name = StringField(spec, "queueName");
  if (auto it = spec.find("active"); it != spec.end() && it->is_boolean()) w.active = it->get<bool>();
  w.pod_sets = Arr(spec, "podSets");
  w.conditions = Arr(status, "conditions");
  for (const json& cond : w.conditions) {
    if (StringField(cond, "status") != "True") continue;
    const std::string type = StringField(cond, "type");
    if (type == "Admitted") {
      w.admitted = true;
      w.admitted_time = Time(cond, "lastTransitionTime");
    } else if (type == "Evicted") {
      w.evicted = true;
      w.evicted_reason = StringField(cond, "reason");
      w.evicted_message = StringField(cond, "message");
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
