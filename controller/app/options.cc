#include "app/options.h"

#include "CLI/CLI.hpp"
#include "absl/strings/str_cat.h"
#include "app/placement.h"
#include "reconcile/quantity.h"

namespace coderun::app {
namespace {

absl::Status ParseQuantityFlag(const std::string& flag, const std::string& text,
                               reconcile::Quantity* out) {
  auto q = reconcile::ParseQuantity(std::string_view(text));
  if (!q.ok()) return absl::InvalidArgumentError(absl::StrCat(flag, ": ", q.status().message()));
  *out = *q;
  return absl::OkStatus();
}

}  // namespace

absl::StatusOr<Options> ParseOptions(int argc, const char* const* argv) {
  Options o;
  reconcile::Settings& s = o.settings;
  std::string max_cpu = "4", max_memory = "4Gi", tmp_size = "64Mi", uid_range = "200000-265535";
  std::string log_format = "text", log_level = "info", http_client = "beast";
  std::vector<std::string> node_selector;
  std::string tolerations;

  CLI::App app{"coderun-controller: runs CodeRuns (coderun.dev/v1alpha1) in locked-down Pods"};
  app.add_option("--kubeconfig", o.kubeconfig,
                 "kubeconfig file; default $KUBECONFIG, else the in-cluster service account");
  app.add_option("--namespace", o.namespaces, "namespace to serve (repeatable); default all");
  app.add_option("--workers", o.workers, "reconcile workers")->check(CLI::Range(1, 64));
  app.add_option("--runner-image", s.runner_image, "runner image for language python");
  app.add_option("--max-timeout-seconds", s.max_timeout_seconds, "largest spec.limits.timeoutSeconds")
      ->check(CLI::PositiveNumber);
  app.add_option("--max-cpu", max_cpu, "largest spec.limits.cpu");
  app.add_option("--max-memory", max_memory, "largest spec.limits.memory");
  app.add_option("--max-pids", s.max_pids, "largest spec.limits.pids")->check(CLI::PositiveNumber);
  app.add_option("--max-output-bytes", s.max_output_bytes, "largest spec.limits.outputBytes")
      ->check(CLI::NonNegativeNumber);
  app.add_option("--max-pending-seconds", s.max_pending_seconds,
                 "a run whose Pod cannot start (no node, image, quota) fails this long after its "
                 "Pod's creation (its admission while no Pod can be created)")
      ->check(CLI::PositiveNumber);
  app.add_option("--max-starting-runs", s.max_starting_runs,
                 "runs whose Pod exists but has not started, at most; more wait as Queued")
      ->check(CLI::PositiveNumber);
  app.add_option("--max-running-runs", s.max_running_runs,
                 "runs admitted and not finished, at most; 0 = no bound")
      ->check(CLI::NonNegativeNumber);
  app.add_option("--max-running-runs-per-namespace", s.max_running_runs_per_namespace,
                 "the same, in each namespace; 0 = no bound")
      ->check(CLI::NonNegativeNumber);
  app.add_option("--max-queued-seconds", s.max_queued_seconds,
                 "a run still queued this long after its creation fails with QueueTimeout; "
                 "0 = wait as long as it takes")
      ->check(CLI::NonNegativeNumber);
  app.add_option("--default-ttl", s.default_ttl_seconds,
                 "seconds a finished CodeRun without ttlSecondsAfterFinished is kept")
      ->check(CLI::NonNegativeNumber);
  app.add_option("--max-ttl-seconds-after-finished", s.max_ttl_seconds_after_finished,
                 "largest spec.ttlSecondsAfterFinished; at least --default-ttl")
      ->check(CLI::NonNegativeNumber);
  app.add_option("--uid-range", uid_range, "LOW-HIGH: Linux UIDs given to runs, one per live run");
  app.add_option("--cpu-request-ratio", s.cpu_request_ratio,
                 "cpu request = cpu limit x this (1 = steady timings; lower packs more runs)")
      ->check(CLI::Range(0.001, 1.0));
  app.add_option("--tmp-size", tmp_size, "size of each run's memory-backed /tmp");
  app.add_option("--deadline-margin-seconds", s.deadline_margin_seconds,
                 "activeDeadlineSeconds = timeout + this (backstop)")
      ->check(CLI::Range(30, 3600));
  app.add_flag("--keep-pods", s.keep_pods, "keep finished run Pods (their Secrets still go)");
  app.add_flag("--warm-pools", s.warm_pools,
               "keep the CodeRunPools' warm Pods and let the runs they serve claim them "
               "(needs the CodeRunPool CRD and pods/attach; docs/warm-pools.md)");
  app.add_flag("--kueue", s.kueue,
               "runs labelled kueue.x-k8s.io/queue-name are admitted by Kueue through a Workload "
               "each (needs Kueue's CRDs), not by the --max-*-runs bounds");
  app.add_option("--runtime-class-name", s.runtime_class_name,
                 "runtimeClassName of run Pods for language python; default unset");
  app.add_option("--image-pull-secret", s.image_pull_secrets,
                 "Secret for pulling the runner image (repeatable)");
  app.add_option("--node-selector", node_selector,
                 "KEY=VALUE label a node must carry to get run Pods (repeatable)");
  app.add_option("--tolerations", tolerations,
                 "JSON array of core/v1 Tolerations given to run Pods");
  app.add_option("--priority-class-name", s.priority_class_name,
                 "priorityClassName of run Pods; default unset");
  app.add_option("--qps", o.qps, "client-side API request rate; 0 = unlimited")
      ->check(CLI::NonNegativeNumber);
  app.add_option("--burst", o.burst, "client-side API burst")->check(CLI::PositiveNumber);
  app.add_option("--http-address", o.http_address, "host:port for /healthz, /readyz, /metrics");
  app.add_option("--http-client", http_client,
                 "HTTP library for the API server: beast (default) or cpprestsdk")
      ->check(CLI::IsMember({"beast", "cpprestsdk"}));
  app.add_option("--watch-timeout-seconds", o.watch_timeout_seconds,
                 "server-side timeout of each watch request")
      ->check(CLI::Range(1, 3600));
  app.add_flag("--leader-elect", o.leader_elect,
               "elect a leader on a Lease; only the leader reconciles (for several replicas)");
  app.add_option("--leader-election-namespace", o.leader_election_namespace,
                 "namespace of the leader-election Lease");
  app.add_option("--leader-election-id", o.leader_election_id, "name of the Lease");
  app.add_option("--leader-elect-lease-duration", o.lease_duration_seconds,
                 "seconds a standby waits on an unrenewed Lease before taking over")
      ->check(CLI::Range(2, 600));
  app.add_option("--leader-elect-renew-deadline", o.renew_deadline_seconds,
                 "seconds the leader keeps trying to renew before it gives up")
      ->check(CLI::Range(1, 600));
  app.add_option("--leader-elect-retry-period", o.retry_period_seconds,
                 "seconds between leader-election attempts")
      ->check(CLI::Range(1, 60));
  app.add_option("--log-format", log_format, "text or json")->check(CLI::IsMember({"text", "json"}));
  app.add_option("--log-level", log_level, "debug, info, warn or error")
      ->check(CLI::IsMember({"debug", "info", "warn", "error"}));

  try {
    app.parse(argc, argv);
  } catch (const CLI::CallForHelp&) {
    return absl::CancelledError(app.help());
  } catch (const CLI::ParseError& e) {
    return absl::InvalidArgumentError(e.what());
  }

  o.http_client = *kube::ParseHttpLibrary(http_client);  // checked by IsMember
  if (auto st = ParseQuantityFlag("--max-cpu", max_cpu, &s.max_cpu); !st.ok()) return st;
  if (auto st = ParseQuantityFlag("--max-memory", max_memory, &s.max_memory); !st.ok()) return st;
  if (auto st = ParseQuantityFlag("--tmp-size", tmp_size, &s.tmp_size); !st.ok()) return st;
  long long low = 0, high = 0;
  char tail = 0;
  if (std::sscanf(uid_range.c_str(), "%lld-%lld%c", &low, &high, &tail) != 2 || low < 1000 ||
      high < low || high > 2147483646) {
    return absl::InvalidArgumentError(
        absl::StrCat("--uid-range ", uid_range, ": want LOW-HIGH with 1000 <= LOW <= HIGH"));
  }
  if (s.max_ttl_seconds_after_finished < s.default_ttl_seconds) {
    return absl::InvalidArgumentError(absl::StrCat(
        "--max-ttl-seconds-after-finished ", s.max_ttl_seconds_after_finished,
        " is below --default-ttl ", s.default_ttl_seconds));
  }
  s.uid_low = low;
  s.uid_high = high;
  if (auto st = CheckPlacement(node_selector, tolerations, &s); !st.ok()) return st;
  if (o.renew_deadline_seconds >= o.lease_duration_seconds ||
      o.retry_period_seconds >= o.renew_deadline_seconds) {
    return absl::InvalidArgumentError(
        "leader election wants retry period < renew deadline < lease duration");
  }
  o.log_format = log_format == "json" ? log::Format::kJson : log::Format::kText;
  o.log_level = log_level == "debug"  ? log::Level::kDebug
                : log_level == "warn" ? log::Level::kWarn
                : log_level == "error" ? log::Level::kError
                                       : log::Level::kInfo;
  return o;
}

}  // namespace coderun::app
