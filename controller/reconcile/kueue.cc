#include "reconcile/kueue.h"

#include "absl/strings/str_cat.h"
#include "api/coderun.h"
#include "reconcile/pod.h"

namespace coderun::reconcile {

using kube::json;

json WorkloadPodSets(const CodeRun& run, const ValidLimits& limits, const Settings& settings) {
  json spec = {{"restartPolicy", "Never"},
               {"containers",
                {{{"name", api::kRunnerContainer},
                  {"image", settings.runner_image},
                  {"resources", RunnerResources(limits, settings)}}}}};
  AddPlacement(run, settings, spec);
  spec.erase("imagePullSecrets");  // no part of the quota
  return json::array({{{"name", "main"}, {"count", 1}, {"template", {{"spec", std::move(spec)}}}}});
}

json BuildWorkload(const CodeRun& run, const json& pod_sets) {
  return {{"apiVersion", "kueue.x-k8s.io/v1beta2"},
          {"kind", "Workload"},
          {"metadata",
           {{"name", PodName(run.name, run.uid)},
            {"namespace", run.ns},
            {"labels", RunLabels(run)},
            {"ownerReferences", json::array({OwnerReference(run)})}}},
          {"spec", {{"queueName", run.queue_name}, {"podSets", pod_sets}}}};
}

std::optional<std::string> WorkloadMismatch(const Workload& workload, const CodeRun& run,
                                            const json& pod_sets) {
  if (workload.queue_name != run.queue_name) {
    return absl::StrCat("it is queued in LocalQueue \"", workload.queue_name,
                        "\", the run's label names \"", run.queue_name, "\"");
  }
  if (workload.pod_sets != pod_sets) return std::string("its pod sets are not the run's");
  return std::nullopt;
}

json FinishedPatch(const Workload& workload, bool succeeded, const std::string& message,
                   const std::string& now) {
  json conditions = json::array();
  if (workload.conditions.is_array()) {
    for (const json& c : workload.conditions) {
      if (!(c.is_object() && c.value("type", "") == "Finished")) conditions.push_back(c);
    }
  }
  conditions.push_back({{"type", "Finished"},
                        {"status", "True"},
                        {"reason", succeeded ? "Succeeded" : "Failed"},
                        {"message", message.empty() ? std::string("the CodeRun finished")
                                                    : message.substr(0, 1024)},
                        {"lastTransitionTime", now}});
  return {{"metadata", {{"resourceVersion", workload.resource_version}}},
          {"status", {{"conditions", std::move(conditions)}}}};
}

void AddFlavorPlacement(const json& flavor, json& pod_spec) {
  const json spec = flavor.value("spec", json::object());
  if (auto labels = spec.find("nodeLabels"); labels != spec.end() && labels->is_object()) {
    for (const auto& [key, value] : labels->items()) {
      if (value.is_string()) pod_spec["nodeSelector"][key] = value;
    }
  }
  if (auto tolerations = spec.find("tolerations");
      tolerations != spec.end() && tolerations->is_array()) {
    for (const json& t : *tolerations) {
      if (t.is_object()) pod_spec["tolerations"].push_back(t);
    }
  }
}

}  // namespace coderun::reconcile
