#include "app/controller.h"

#include <malloc.h>

#include <chrono>

#include "absl/strings/str_cat.h"
#include "absl/time/clock.h"
#include "common/clock.h"
#include "common/log.h"
#include "kube/errors.h"
#include "reconcile/kueue.h"
#include "reconcile/network_policy.h"
#include "reconcile/status.h"

namespace coderun::app {
namespace {

informer::InformerOptions InformerFor(const kube::Resource& r, const Options& o,
                                      std::string selector, kube::DropKeys drop) {
  informer::InformerOptions io;
  io.resource = r;
  io.namespaces = o.namespaces;
  io.label_selector = std::move(selector);
  io.drop_keys = std::move(drop);
  io.watch_timeout_seconds = o.watch_timeout_seconds;
  return io;
}

// CodeRuns are the big objects (finished ones carry their output): small pages keep the
// transient list bodies small, which is most of the controller's peak heap.
informer::InformerOptions CodeRunInformer(const Options& o) {
  informer::InformerOptions io = InformerFor(kube::kCodeRuns, o, "", reconcile::CodeRunDropKeys());
  io.page_size = 50;
  return io;
}

// NetworkPolicies are parsed whole but for managedFields and annotations and kept as a
// summary; small pages bound the transient memory of a list (a policy may be 1.5 MB).
informer::InformerOptions NetworkPolicyInformer(const Options& o) {
  informer::InformerOptions io =
      InformerFor(kube::kNetworkPolicies, o, "", reconcile::NetworkPolicyDropKeys());
  io.page_size = reconcile::kNetworkPolicyPageSize;
  return io;
}

std::string ManagedSelector() {
  return std::string(reconcile::kManagedByLabel) + "=" + reconcile::kManagedByValue;
}

const std::vector<double> kReconcileBuckets = {0.001, 0.0025, 0.005, 0.01, 0.025, 0.05,
                                               0.1,   0.25,   0.5,   1,    2.5,   5};
const std::vector<double> kApiRequestBuckets = {0.001, 0.0025, 0.005, 0.01, 0.025, 0.05,
                                                0.1,   0.25,   0.5,   1,    2.5,   5, 10};

}  // namespace

kube::RequestObserver CountApiRequests(metrics::Registry& metrics) {
  metrics::CounterFamily* requests = metrics::MustRegister(
      metrics.AddCounter("coderun_api_requests_total",
                         "Kubernetes API requests, by verb and HTTP code.", {"verb", "code"}));
  metrics::HistogramFamily* latency = metrics::MustRegister(metrics.AddHistogram(
      "coderun_api_request_duration_seconds",
      "Kubernetes API request latency (watches excluded), by verb.", kApiRequestBuckets,
      {"verb"}));
  return [requests, latency](const std::string& verb, const std::string& code,
                             std::optional<double> seconds) {
    requests->WithLabels({verb, code}).Inc();
    if (seconds) latency->WithLabels({verb}).Observe(*seconds);
  };
}

namespace {
constexpr auto kProbeInterval = std::chrono::seconds(5);
constexpr auto kProbeTimeout = std::chrono::seconds(5);
}  // namespace

Controller::Controller(kube::Client& client, const Options& options, metrics::Registry& metrics)
    : client_(client),
      options_(options),
      metrics_(metrics),
      uids_(options.settings.uid_low, options.settings.uid_high),
      events_(client, RealClock(), "coderun-controller",
              metrics::MustRegister(events::RegisterMetrics(metrics))),
      admission_(
          reconcile::AdmissionLimits{options.settings.max_starting_runs,
                                     options.settings.max_running_runs,
                                     options.settings.max_running_runs_per_namespace},
          [this](const std::string& key) { queue_.Add(key); }, RealClock()),
      router_([this](const std::string& key) { queue_.Add(key); }, uids_, RunsOf(coderuns_),
              &admission_, options.settings.kueue),
      coderuns_(client, CodeRunInformer(options), reconcile::DecodeCodeRun, RealClock()),
      pods_(client, InformerFor(kube::kPods, options, ManagedSelector(), reconcile::MetadataDropKeys()),
            reconcile::DecodePod, RealClock()),
      policies_(client, NetworkPolicyInformer(options), reconcile::DecodeNetworkPolicy,
                RealClock()),
      workloads_(options.settings.kueue
                     ? std::make_unique<informer::Informer<reconcile::Workload>>(
                           client,
                           InformerFor(reconcile::kWorkloads, options, ManagedSelector(),
                                       reconcile::MetadataDropKeys()),
                           reconcile::DecodeWorkload, RealClock())
                     : nullptr),
      pools_(options.settings.warm_pools
                 ? std::make_unique<informer::Informer<reconcile::Pool>>(
                       client,
                       InformerFor(reconcile::kCodeRunPools, options, "",
                                   reconcile::MetadataDropKeys()),
                       reconcile::DecodePool, RealClock())
                 : nullptr),
      leading_(!options.leader_elect) {
  reconciler_ = std::make_unique<reconcile::Reconciler>(
      client_, CachesOf(coderuns_, pods_, policies_, workloads_.get(), pools_.get()),
      options_.settings, uids_,
      events_,
      RealClock(), metrics::MustRegister(reconcile::RegisterMetrics(metrics_)),
      work_cancel_.context(), &admission_);
  Wire(router_, coderuns_, pods_, policies_, workloads_.get(), pools_.get());
  RegisterMetrics();
}

Controller::~Controller() { Stop(); }

void Controller::RegisterMetrics() {
  using metrics::Sample;
  using metrics::Type;
  reconciles_ = metrics::MustRegister(
      metrics_.AddCounter("coderun_reconcile_total", "Reconciles by result.", {"result"}));
  reconcile_seconds_ = metrics::MustRegister(metrics_.AddHistogram(
      "coderun_reconcile_duration_seconds", "Time spent in one reconcile.", kReconcileBuckets));
  auto relists = [this] {
    std::vector<Sample> out;
    auto add = [&](const char* resource, const informer::InformerStats& s) {
      out.push_back({{resource, "gone"}, double(s.relists_gone.load())});
      out.push_back({{resource, "error"}, double(s.relists_error.load())});
    };
    add("coderuns", coderuns_.stats());
    add("pods", pods_.stats());
    add("networkpolicies", policies_.stats());
    if (workloads_) add("workloads", workloads_->stats());
    if (pools_) add("coderunpools", pools_->stats());
    return out;
  };
  metrics::MustRegister(metrics_.AddCallback(Type::kCounter, "coderun_informer_relists_total",
                                             "Full relists of a watched resource.",
                                             {"resource", "reason"}, relists));
  metrics::MustRegister(metrics_.AddCallback(
      Type::kGauge, "coderun_workqueue_depth", "Keys waiting in the work queue.", {},
      [this] { return std::vector<Sample>{{{}, double(queue_.Len())}}; }));
  metrics::MustRegister(metrics_.AddCallback(
      Type::kCounter, "coderun_workqueue_retries_total",
      "Keys requeued with backoff after a failed reconcile.", {},
      [this] { return std::vector<Sample>{{{}, double(queue_.TotalRetries())}}; }));
  metrics::MustRegister(metrics_.AddCallback(
      Type::kGauge, "coderun_leader", "1 if this replica reconciles (leader or no election).", {},
      [this] { return std::vector<Sample>{{{}, leading_ ? 1.0 : 0.0}}; }));
  metrics::MustRegister(metrics_.AddCallback(
      Type::kGauge, "coderun_admission_runs",
      "Runs by admission state: queued (no Pod yet), starting (admitted, Pod not running), "
      "running.",
      {"state"}, [this] {
        const reconcile::AdmissionCounts c = admission_.Counts();
        return std::vector<Sample>{{{"queued"}, double(c.queued)},
                                   {{"starting"}, double(c.starting)},
                                   {{"running"}, double(c.running)}};
      }));
  metrics::MustRegister(metrics_.AddCallback(
      Type::kGauge, "coderun_admission_oldest_queued_seconds",
      "Age of the oldest run waiting in the admission queue (since its creation); 0 when "
      "none waits.",
      {}, [this] {
        const std::int64_t created = admission_.OldestQueuedCreated();
        const double age =
            created == 0 ? 0.0
                         : std::max<double>(0, absl::ToUnixSeconds(absl::Now()) - created);
        return std::vector<Sample>{{{}, age}};
      }));
  metrics::MustRegister(metrics_.AddCallback(
      Type::kGauge, "coderun_ready", "1 while /readyz answers ok (caches synced, API reachable).",
      {}, [this] { return std::vector<Sample>{{{}, Ready() ? 1.0 : 0.0}}; }));
  metrics::MustRegister(metrics_.AddCallback(
      Type::kGauge, "coderun_run_uids_in_use", "Run UIDs held by live Pods or reservations.", {},
      [this] { return std::vector<Sample>{{{}, double(uids_.InUse())}}; }));
}

void Controller::Start() {
  coderuns_.Start();
  pods_.Start();
  policies_.Start();
  if (workloads_) workloads_->Start();
  if (pools_) pools_->Start();
  starter_ = std::thread([this] { RunWorkers(); });
  prober_ = std::thread([this] { Probe(); });
}

bool Controller::Synced() const {
  return coderuns_.HasSynced() && pods_.HasSynced() && policies_.HasSynced() &&
         (!workloads_ || workloads_->HasSynced()) && (!pools_ || pools_->HasSynced());
}

bool Controller::Ready() const { return Synced() && api_ok_.load(); }

void Controller::RunWorkers() {
  while (!stopping_ && !(Synced() && leading_)) {
    std::this_thread::sleep_for(std::chrono::milliseconds(20));
  }
  if (stopping_) return;
  log::Info("caches synced", {{"coderuns", std::to_string(coderuns_.List().size())},
                              {"pods", std::to_string(pods_.List().size())},
                              {"workers", std::to_string(options_.workers)}});
  malloc_trim(0);  // hand back what the initial lists' pages used
  admission_.Open();  // the counts are complete: grants may begin
  for (int i = 0; i < options_.workers; ++i) workers_.emplace_back([this] { Worker(); });
}

void Controller::Probe() {
  const std::string ns = options_.namespaces.empty() ? "" : options_.namespaces.front();
  kube::ListOptions opts;
  opts.limit = 1;
  const Context stop = probe_cancel_.context();
  while (!stopping_) {
    auto page = client_.List(stop.WithTimeout(kProbeTimeout), kube::kCodeRuns, ns, opts,
                             reconcile::CodeRunDropKeys());
    if (stop.cancelled()) return;
    bool ok = page.ok();
    if (ok != api_ok_.exchange(ok)) {
      if (ok) {
        log::Info("api reachable");
      } else {
        log::Warn("api unreachable", {{"error", std::string(page.status().message())}});
      }
    }
    if (!stop.SleepFor(kProbeInterval)) return;
  }
}

void Controller::Worker() {
  while (auto key = queue_.Get()) {
    auto start = std::chrono::steady_clock::now();
    reconcile::Result r = ReconcileSafely(*key);
    double secs = std::chrono::duration<double>(std::chrono::steady_clock::now() - start).count();
    reconcile_seconds_->WithLabels().Observe(secs);
    reconciles_->WithLabels({r.error.ok() ? r.outcome : "error"}).Inc();
    if (!r.error.ok()) {
      // A conflict only means the cache was a step behind our own last write: retry quietly.
      log::Write(kube::IsConflict(r.error) ? log::Level::kDebug : log::Level::kWarn, "reconcile failed", {{"key", *key}, {"error", std::string(r.error.message())},
                                     {"retries", std::to_string(queue_.NumRequeues(*key))}});
      queue_.AddRateLimited(*key);
    } else {
      queue_.Forget(*key);
      if (r.requeue_after) queue_.AddAfter(*key, *r.requeue_after);
    }
    queue_.Done(*key);
  }
}

// A reconcile that throws (a bug, or an object shaped in a way nobody foresaw) is an error
// like any other: logged, retried with backoff. It never ends the worker.
reconcile::Result Controller::ReconcileSafely(const std::string& key) {
  try {
    return reconciler_->Reconcile(key);
  } catch (const std::exception& e) {
    reconcile::Result r;
    r.error = absl::InternalError(absl::StrCat("reconcile threw: ", e.what()));
    return r;
  } catch (...) {
    reconcile::Result r;
    r.error = absl::InternalError("reconcile threw a non-standard exception");
    return r;
  }
}

void Controller::Abandon() {
  stopping_ = true;  // no worker picks up another key
  work_cancel_.Cancel();
  Stop();
}

void Controller::Stop() {
  std::lock_guard lock(stop_mu_);
  if (stopped_) return;
  stopped_ = true;
  stopping_ = true;
  queue_.ShutDown();
  probe_cancel_.Cancel();
  if (starter_.joinable()) starter_.join();
  for (auto& w : workers_) w.join();
  workers_.clear();
  if (prober_.joinable()) prober_.join();
  events_.Stop();
  coderuns_.Stop();
  pods_.Stop();
  policies_.Stop();
  if (workloads_) workloads_->Stop();
  if (pools_) pools_->Stop();
}

}  // namespace coderun::app
