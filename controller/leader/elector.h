// Leader election on a coordination.k8s.io/v1 Lease (the shape of client-go's
// leaderelection): one replica reconciles, the others keep warm caches and wait.
//
// Expiry is judged on the local clock: a candidate takes over only after it has seen the
// same Lease record, unrenewed, for a whole lease duration, so clock skew between replicas
// does not matter. Thread-safe.
#pragma once

#include <atomic>
#include <chrono>
#include <functional>
#include <mutex>
#include <string>
#include <thread>

#include "absl/status/statusor.h"
#include "common/clock.h"
#include "kube/client.h"

namespace coderun::leader {

struct ElectorOptions {
  std::string lease_namespace = "coderun-system";
  std::string lease_name = "coderun-controller";
  std::string identity;  // unique per replica
  std::chrono::seconds lease_duration{15};
  std::chrono::seconds renew_deadline{10};  // the leader gives up if it cannot renew this long
  std::chrono::seconds retry_period{2};
};

class Elector {
 public:
  Elector(kube::Client& client, ElectorOptions options, Clock& clock);
  ~Elector();

  // One attempt to acquire or renew. Returns whether we hold the Lease afterwards; API
  // errors other than conflicts are returned.
  absl::StatusOr<bool> TryAcquireOrRenew();

  // Blocks, retrying every retry_period, until the Lease is ours (true) or `stop` (false).
  bool Acquire(const std::atomic<bool>& stop);

  // Renews every retry_period in a thread; if renewal fails for renew_deadline, stops and
  // calls `on_lost` once (from that thread).
  void KeepRenewing(std::function<void()> on_lost);

  // Stops renewing and, if we hold the Lease, hands it back (empty holder, 1 s duration) so
  // another replica takes over at once. Idempotent.
  void Release();

  bool leading() const { return leading_.load(); }
  const std::string& identity() const { return options_.identity; }

 private:
  std::string NowMicro() const;

  kube::Client& client_;
  const ElectorOptions options_;
  Clock& clock_;
  std::atomic<bool> leading_{false};
  std::atomic<bool> stop_renewing_{false};
  std::thread renewer_;

  std::mutex mu_;
  std::string observed_record_;  // guarded by mu_: holder + renewTime last seen
  SteadyTime observed_at_{};     // guarded by mu_: when it last changed (local clock)
};

// A default identity: $POD_NAME if set, else hostname, plus the process id.
std::string DefaultIdentity();

}  // namespace coderun::leader
