// Leader election on a coordination.k8s.io/v1 Lease (the shape of client-go's
// leaderelection): one replica reconciles, the others keep warm caches and wait.
//
// Expiry is judged on the local clock: a candidate takes over only after it has seen the
// same Lease record, unrenewed, for a whole lease duration, so clock skew between replicas
// does not matter.
//
// Bounded like client-go: every acquire or renew attempt carries a deadline (the renew
// deadline, counted for a leader from its last successful renewal), so a hung apiserver
// cannot hold an attempt past it. A leader that has not renewed for renew_deadline gives up
// and calls on_lost, which must stop its workers; lease_duration - renew_deadline is the
// time that leaves before a standby may take over. The elector should have a client of its
// own (own rate limiter): workers saturating theirs must not delay a renewal.
//
// Total: a malformed Lease is an error value (logged, retried), never an exception.
// Thread-safe.
#pragma once

#include <atomic>
#include <chrono>
#include <functional>
#include <mutex>
#include <string>
#include <thread>

#include "absl/status/statusor.h"
#include "common/clock.h"
#include "common/context.h"
#include "kube/client.h"

namespace coderun::leader {

struct ElectorOptions {
  std::string lease_namespace = "coderun-system";
  std::string lease_name = "coderun-controller";
  std::string identity;  // unique per replica
  std::chrono::milliseconds lease_duration{15000};
  std::chrono::milliseconds renew_deadline{10000};  // must be < lease_duration
  std::chrono::milliseconds retry_period{2000};
};

class Elector {
 public:
  // `sleep` waits between attempts (default RealSleep); tests advance a FakeClock instead.
  using Sleeper = coderun::Sleeper;

  Elector(kube::Client& client, ElectorOptions options, Clock& clock, Sleeper sleep = nullptr);
  ~Elector();  // stops renewing (without releasing)

  // One attempt to acquire or renew, bounded by `ctx`. Returns whether we hold the Lease
  // afterwards; API errors other than conflicts, a malformed Lease and the deadline are
  // returned.
  absl::StatusOr<bool> TryAcquireOrRenew(const Context& ctx);

  // Tries every retry_period, each attempt bounded by renew_deadline, until the Lease is
  // ours (true) or `ctx` is cancelled (false).
  bool Acquire(const Context& ctx);

  // Renews every retry_period in a thread, each attempt bounded by what is left of
  // renew_deadline since the last renewal. When that runs out, or another replica holds the
  // Lease, stops and calls `on_lost` once (from that thread).
  void KeepRenewing(std::function<void()> on_lost);

  // Stops renewing and, if we hold the Lease, hands it back (empty holder, 1 s duration) so
  // another replica takes over at once; bounded by renew_deadline. Idempotent.
  void Release();

  bool leading() const { return leading_.load(); }
  const std::string& identity() const { return options_.identity; }

 private:
  absl::StatusOr<bool> Attempt(const Context& ctx);
  void RenewLoop(const std::function<void()>& on_lost);
  void StopRenewing();
  std::string NowMicro() const;

  kube::Client& client_;
  const ElectorOptions options_;
  Clock& clock_;
  const Sleeper sleep_;
  std::atomic<bool> leading_{false};
  CancelSource stop_renewing_;
  std::thread renewer_;

  std::mutex mu_;
  std::string observed_record_;  // guarded by mu_: holder + renewTime last seen
  SteadyTime observed_at_{};     // guarded by mu_: when it last changed (local clock)
};

// A default identity: $POD_NAME if set, else hostname, plus the process id.
std::string DefaultIdentity();

}  // namespace coderun::leader
