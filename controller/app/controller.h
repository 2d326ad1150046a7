// The running controller: informers for CodeRuns, run Pods and NetworkPolicies feeding a
// work queue drained by N reconcile workers, plus metrics and readiness.
#pragma once

#include <atomic>
#include <map>
#include <mutex>
#include <set>
#include <memory>
#include <thread>
#include <vector>

#include "app/options.h"
#include "app/wiring.h"
#include "common/context.h"
#include "events/recorder.h"
#include "informer/informer.h"
#include "kube/client.h"
#include "kube/http_client.h"
#include "metrics/registry.h"
#include "reconcile/reconciler.h"
#include "reconcile/types.h"
#include "reconcile/uid_allocator.h"
#include "workqueue/workqueue.h"

namespace coderun::app {

// An observer for the API client that counts every request in `metrics` as
// coderun_api_requests_total{verb,code} and times it in
// coderun_api_request_duration_seconds{verb}, registering both (once per registry: a second
// call ends the process). `metrics` must outlive the client.
kube::RequestObserver CountApiRequests(metrics::Registry& metrics);

// Metrics (Prometheus names; docs/controller.md has the table): reconciles, work queue,
// informer relists, leader status and run UIDs are registered here; finished runs and run
// durations by the reconciler; API requests by the client's observer (CountApiRequests).
class Controller {
 public:
  Controller(kube::Client& client, const Options& options, metrics::Registry& metrics);
  ~Controller();

  // Starts the informers; workers start once every cache has synced. Non-blocking.
  void Start();
  // Stops everything, in order: no new reconciles start and in-flight ones finish (their
  // requests bounded by the client's timeout), then the prober, the event recorder and the
  // informers, whose list or watch in flight is cancelled. Returns within about a second
  // even against a hung apiserver once in-flight reconciles are done. Idempotent.
  void Stop();
  // Leadership is lost: cancels in-flight reconciles' API calls (they fail at once, nothing
  // more is written) and then Stop()s. Returns once no worker runs.
  void Abandon();

  // Without leader election the controller works as soon as its caches sync. With it,
  // Start() fills the caches and waits until Lead() is called.
  void Lead() { leading_ = true; }

  bool Synced() const;
  // Caches synced and the API answering.
  bool Ready() const;

 private:
  void RunWorkers();
  void Worker();
  void Probe();
  void RegisterMetrics();
  reconcile::Result ReconcileSafely(const std::string& key);

  kube::Client& client_;
  const Options options_;
  metrics::Registry& metrics_;
  metrics::CounterFamily* reconciles_ = nullptr;           // {result}; set by RegisterMetrics
  metrics::HistogramFamily* reconcile_seconds_ = nullptr;  // set by RegisterMetrics
  reconcile::UidAllocator uids_;
  events::Recorder events_;
  workqueue::RateLimitingQueue queue_;
  // Which waiting runs may create their Pod (admission.h); opened once workers start.
  reconcile::Admission admission_;
  // Informer events -> queue_ keys and uids_ (wiring.h). Declared before the informers so
  // that it outlives their threads.
  EventRouter router_;
  informer::Informer<reconcile::CodeRun> coderuns_;
  informer::Informer<reconcile::Pod> pods_;
  informer::Informer<reconcile::NetworkPolicy> policies_;
  // Kueue Workloads of runs (only with --kueue).
  std::unique_ptr<informer::Informer<reconcile::Workload>> workloads_;
  std::unique_ptr<informer::Informer<reconcile::Pool>> pools_;  // --warm-pools only
  std::unique_ptr<reconcile::Reconciler> reconciler_;
  std::atomic<bool> stopping_{false};
  std::mutex stop_mu_;   // serialises Stop()
  bool stopped_ = false;  // guarded by stop_mu_
  CancelSource work_cancel_;   // the reconciler's calls; cancelled by Abandon()
  CancelSource probe_cancel_;  // the prober's sleep and request; cancelled by Stop()
  std::atomic<bool> leading_;
  std::atomic<bool> api_ok_{false};
  std::thread starter_;               // waits for sync, then starts workers
  std::thread prober_;                // checks the API every few seconds
  std::vector<std::thread> workers_;  // owned by starter_ until Stop()
};

}  // namespace coderun::app
