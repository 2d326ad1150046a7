// Controller settings that shape runs (flags of coderun-controller).
#pragma once

#include <cstdint>
#include <map>
#include <string>
#include <vector>

#include "nlohmann/json.hpp"
#include "reconcile/quantity.h"

namespace coderun::reconcile {

struct Settings {
  std::string runner_image = "coderun/runner:dev";  // for language "python"
  // Platform-wide maxima: a spec above any of them finishes as InvalidSpec.
  std::int64_t max_timeout_seconds = 600;
  Quantity max_cpu{4000};                                       // 4 cores
  Quantity max_memory{std::int64_t{4} * 1024 * 1024 * 1024 * 1000};  // 4Gi
  std::int64_t max_pids = 1024;
  std::int64_t max_output_bytes = 262144;  // the CRD's own bound
  // A run that cannot start fails (PodFailed) after this, counted from its Pod's creation
  // (unschedulable, image pull), from its admission (quota, no UID), or from its creation
  // (a namespace refused for a NetworkPolicy conflict).
  std::int64_t max_pending_seconds = 300;
  // Admission (admission.h): Pods are created only while fewer than max_starting_runs of the
  // controller's Pods have not started, and fewer than max_running_runs (and, per namespace,
  // max_running_runs_per_namespace) runs are live; 0 = no bound for the last two.
  std::int64_t max_starting_runs = 20;
  std::int64_t max_running_runs = 0;
  std::int64_t max_running_runs_per_namespace = 0;
  // A run still queued this long after its creation fails with QueueTimeout; 0 = never.
  std::int64_t max_queued_seconds = 0;
  // TTL of finished CodeRuns without spec.ttlSecondsAfterFinished.
  std::int64_t default_ttl_seconds = 86400;
  // Largest spec.ttlSecondsAfterFinished (7 days); at least default_ttl_seconds.
  std::int64_t max_ttl_seconds_after_finished = 604800;
  // Run UIDs are allocated from [uid_low, uid_high], unique among live run Pods.
  std::int64_t uid_low = 200000;
  std::int64_t uid_high = 265535;
  // cpu request = cpu limit x ratio (1.0: steady timings; lower packs more runs).
  double cpu_request_ratio = 1.0;
  Quantity tmp_size{std::int64_t{64} * 1024 * 1024 * 1000};  // 64Mi
  // activeDeadlineSeconds = timeout + margin (backstop only; sandbox setup counts too).
  std::int64_t deadline_margin_seconds = 30;
  // Keep finished Pods (debugging); their Secrets are deleted regardless.
  bool keep_pods = false;
  // Runs labelled kueue.x-k8s.io/queue-name are admitted by Kueue (kueue.h), not by the
  // controller's own bounds; off: the label means nothing to the controller.
  bool kueue = false;
  // Warm pools (docs/warm-pools.md): CodeRunPools are watched and kept filled, and runs
  // they serve claim their warm Pods.
  bool warm_pools = false;

  // Placement of run Pods: set by the platform, never by a CodeRun. Empty means unset.
  std::string runtime_class_name;                    // for language "python"
  std::vector<std::string> image_pull_secrets;       // Secret names
  std::map<std::string, std::string> node_selector;  // label key -> value
  nlohmann::json tolerations = nlohmann::json::array();  // core/v1 Toleration objects
  std::string priority_class_name;
};

}  // namespace coderun::reconcile
