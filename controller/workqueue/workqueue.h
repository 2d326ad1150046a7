// Rate-limited, de-duplicating work queue of string keys (the shape of client-go's
// workqueue). A key is never handed to two workers at once: a key added while it is being
// processed is queued again once Done() is called for it. Thread-safe.
//
// Typical worker loop:
//   while (auto key = queue.Get()) {
//     absl::Status s = Reconcile(*key);
//     if (s.ok()) queue.Forget(*key); else queue.AddRateLimited(*key);
//     queue.Done(*key);
//   }
#pragma once

#include <chrono>
#include <condition_variable>
#include <cstddef>
#include <cstdint>
#include <deque>
#include <mutex>
#include <optional>
#include <set>
#include <string>
#include <unordered_map>
#include <unordered_set>
#include <utility>

#include "common/backoff.h"
#include "common/clock.h"
#include "common/token_bucket.h"

namespace coderun::workqueue {

using Duration = std::chrono::nanoseconds;

struct QueueOptions {
  Duration backoff_base = std::chrono::milliseconds(5);
  Duration backoff_cap = std::chrono::minutes(5);
  double qps = 10;  // global cap on rate-limited adds; <= 0 disables the bucket
  int burst = 100;
  // Longest real-time wait of a blocked Get() before it re-reads the Clock. Only matters
  // for clocks that jump (fakes): with the real clock a waiter wakes exactly when due.
  Duration clock_recheck = std::chrono::seconds(1);
};

class RateLimitingQueue {
 public:
  explicit RateLimitingQueue(QueueOptions options = {}, Clock& clock = RealClock());
  RateLimitingQueue(const RateLimitingQueue&) = delete;
  RateLimitingQueue& operator=(const RateLimitingQueue&) = delete;

  // Queues `key` unless it is already waiting to be processed. A key currently being
  // processed is marked dirty and queued again at its Done(). Ignored after ShutDown().
  void Add(const std::string& key);

  // Adds `key` once `delay` has passed on the Clock (<= 0: now). While a delayed add of the
  // key is pending, an earlier deadline replaces it and a later one is ignored. The delayed
  // add is independent of the key being ready or processed now (as in client-go).
  void AddAfter(const std::string& key, Duration delay);

  // AddAfter(key, max(backoff_base * 2^NumRequeues(key) capped at backoff_cap, the global
  // token bucket's delay)) and counts one more requeue for the key.
  void AddRateLimited(const std::string& key);

  // Resets the key's backoff (call after a successful reconcile). Does not remove the key.
  void Forget(const std::string& key);
  int NumRequeues(const std::string& key) const;
  // Rate-limited adds of all keys since the queue was made (Forget does not lower it).
  std::uint64_t TotalRetries() const;

  // Blocks until a key is ready and hands it out; the caller owns it until Done(key).
  // Returns nullopt as soon as ShutDown() has been called, even if keys are still queued
  // (reconciling is level-based: nothing is lost, the next start relists everything).
  std::optional<std::string> Get();

  // Ends processing of a key obtained from Get(); requeues it if it was added meanwhile.
  void Done(const std::string& key);

  // Wakes every blocked Get() (which returns nullopt); later adds are ignored. Keys being
  // processed stay owned by their workers until Done(). Idempotent.
  void ShutDown();
  bool ShuttingDown() const;

  // Keys ready to be handed out, including delayed keys now due; not in-process keys.
  size_t Len() const;
  // Keys with a pending delayed add.
  size_t NumDelayed() const;

 private:
  // Moves delayed keys whose time has come into the ready queue. Requires mu_.
  void PromoteDueLocked(SteadyTime now);
  void AddLocked(const std::string& key);

  const QueueOptions options_;
  Clock& clock_;

  mutable std::mutex mu_;
  std::condition_variable cv_;                    // signalled on new ready/delayed keys and shutdown
  std::deque<std::string> queue_;                 // guarded by mu_: ready keys, FIFO
  std::unordered_set<std::string> dirty_;         // guarded by mu_: keys needing processing
  std::unordered_set<std::string> processing_;    // guarded by mu_: keys held by workers
  std::set<std::pair<SteadyTime, std::string>> delayed_;        // guarded by mu_
  std::unordered_map<std::string, SteadyTime> delayed_by_key_;  // guarded by mu_
  std::unordered_map<std::string, int> requeues_;               // guarded by mu_
  std::uint64_t total_retries_ = 0;                             // guarded by mu_
  Backoff backoff_;                                             // guarded by mu_; no jitter
  TokenBucket bucket_;                                          // guarded by mu_
  bool shutting_down_ = false;                                  // guarded by mu_
};

}  // namespace coderun::workqueue
