// coderun-controller: runs CodeRuns (coderun.dev/v1alpha1) in locked-down Pods.
#include <malloc.h>
#include <signal.h>

#include <cstdio>
#include <cstdlib>

#include "absl/strings/str_cat.h"
#include "absl/strings/str_join.h"
#include "app/controller.h"
#include "app/http_server.h"
#include "app/options.h"
#include "common/log.h"
#include "kube/config_client.h"
#include "kube/http_client.h"
#include "kube/kubeconfig.h"
#include "leader/elector.h"
#include "pplx/threadpool.h"
#include "metrics/process.h"
#include "metrics/registry.h"

namespace {

using namespace coderun;

absl::StatusOr<kube::RestConfig> LoadConfig(const app::Options& o) {
  std::string path = o.kubeconfig;
  if (path.empty()) {
    if (const char* env = std::getenv("KUBECONFIG"); env && *env) path = env;
  }
  if (!path.empty()) return kube::LoadKubeconfig(path);
  return kube::InClusterConfig();
}

int Run(int argc, char** argv) {
  // Memory: parsing happens on many threads; with glibc's default of one malloc arena per
  // thread, freed list pages stay spread across arenas. Two arenas keep RSS near the live
  // heap. cpprestsdk's pool defaults to 40 threads; a handful serve our few connections.
  mallopt(M_ARENA_MAX, 2);
  crossplat::threadpool::initialize_with_threads(6);

  auto options = app::ParseOptions(argc, argv);
  if (!options.ok()) {
    if (absl::IsCancelled(options.status())) {
      std::fputs(std::string(options.status().message()).c_str(), stdout);
      return 0;
    }
    std::fprintf(stderr, "coderun-controller: %s\n", std::string(options.status().message()).c_str());
    return 2;
  }
  log::Configure(options->log_format, options->log_level);

  auto config = LoadConfig(*options);
  if (!config.ok()) {
    std::fprintf(stderr, "coderun-controller: %s\n", std::string(config.status().message()).c_str());
    return 2;
  }
  kube::TransportOptions transport_options;
  transport_options.library = options->http_client;
  auto configured = kube::NewTransportForConfig(*config, transport_options);
  if (!configured.ok()) {
    std::fprintf(stderr, "coderun-controller: %s\n",
                 std::string(configured.status().message()).c_str());
    return 2;
  }
  // One transport (TLS material and token parsed once; its pool keeps a connection per
  // concurrent request) shared by two clients, the workers' and the elector's, each with
  // its own rate limiter, so a busy controller never delays a Lease renewal.
  const std::shared_ptr<kube::Transport> transport = *std::move(configured);
  // Outlives the clients (counts their requests) and everything that reports to it.
  metrics::Registry metrics;
  metrics::MustRegister(metrics::RegisterProcessMetrics(metrics));
  const kube::RequestObserver count_requests = app::CountApiRequests(metrics);
  // With leader election each replica writes under its own field manager, so managedFields
  // say which replica wrote what.
  const std::string identity = leader::DefaultIdentity();
  const std::string field_manager =
      options->leader_elect ? absl::StrCat(kube::kUserAgent, "@", identity) : kube::kUserAgent;
  std::unique_ptr<kube::Client> client = kube::NewClient(
      transport,
      kube::ClientOptions{options->qps, options->burst, count_requests, field_manager});
  std::unique_ptr<kube::Client> elector_client = kube::NewClient(
      transport, kube::ClientOptions{5, 10, count_requests, field_manager});

  // A peer closing a connection must be an error value, not the end of the process.
  signal(SIGPIPE, SIG_IGN);
  // Signals go to the main thread only: block them before any thread starts.
  sigset_t signals;
  sigemptyset(&signals);
  sigaddset(&signals, SIGTERM);
  sigaddset(&signals, SIGINT);
  pthread_sigmask(SIG_BLOCK, &signals, nullptr);

  app::Controller controller(*client, *options, metrics);
  app::HttpServer http(options->http_address);
  http.Handle("/healthz", [] { return app::HttpReply{200, "text/plain", "ok\n"}; });
  http.Handle("/readyz", [&controller] {
    return controller.Ready() ? app::HttpReply{200, "text/plain", "ok\n"}
                              : app::HttpReply{503, "text/plain", "not ready\n"};
  });
  http.Handle("/metrics", [&metrics] {
    return app::HttpReply{200, "text/plain; version=0.0.4", metrics.Render()};
  });
  if (auto st = http.Start(); !st.ok()) {
    std::fprintf(stderr, "coderun-controller: %s\n", std::string(st.message()).c_str());
    return 2;
  }
  log::Info("starting", {{"server", config->server},
                         {"namespaces", options->namespaces.empty() ? "*" : absl::StrJoin(options->namespaces, ",")},
                         {"http", "127.0.0.1:" + std::to_string(http.port())}});
  controller.Start();

  CancelSource stopping;
  std::atomic<bool> lost{false};
  const pthread_t main_thread = pthread_self();
  std::unique_ptr<leader::Elector> elector;
  std::thread campaign;
  if (options->leader_elect) {
    leader::ElectorOptions eo;
    eo.lease_namespace = options->leader_election_namespace;
    eo.lease_name = options->leader_election_id;
    eo.identity = identity;
    eo.lease_duration = std::chrono::seconds(options->lease_duration_seconds);
    eo.renew_deadline = std::chrono::seconds(options->renew_deadline_seconds);
    eo.retry_period = std::chrono::seconds(options->retry_period_seconds);
    elector = std::make_unique<leader::Elector>(*elector_client, eo, RealClock());
    campaign = std::thread([&] {
      if (!elector->Acquire(stopping.context())) return;
      controller.Lead();
      elector->KeepRenewing([&] {
        // Another replica may take over once the lease lapses: stop writing now (before it
        // can), then exit so the platform restarts this replica as a standby.
        controller.Abandon();
        lost = true;
        pthread_kill(main_thread, SIGTERM);
      });
    });
  }

  int sig = 0;
  sigwait(&signals, &sig);
  if (lost) {
    log::Error("stopping: leadership lost");
  } else {
    log::Info("stopping", {{"signal", sig == SIGTERM ? "SIGTERM" : "SIGINT"}});
  }
  stopping.Cancel();
  if (campaign.joinable()) campaign.join();
  // In-flight reconciles finish; then the prober, events and informers stop (their
  // requests are cancelled, so this does not wait on a silent apiserver).
  controller.Stop();
  // Workers are done: hand the Lease over so a standby takes over at once.
  if (elector) {
    if (!lost) elector->Release();
    elector.reset();
  }
  http.Stop();
  log::Info("stopped");
  return lost ? 1 : 0;
}

}  // namespace

int main(int argc, char** argv) { return Run(argc, argv); }
