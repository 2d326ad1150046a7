// The list-then-watch loop of one namespace (or of all namespaces) of one resource, feeding
// raw API objects to a sink. Not templated: Informer<T> decodes and caches what it receives.
#pragma once

#include <atomic>
#include <chrono>
#include <condition_variable>
#include <mutex>
#include <random>
#include <string>
#include <thread>

#include "absl/status/status.h"
#include "common/backoff.h"
#include "common/clock.h"
#include "common/context.h"
#include "kube/client.h"

namespace coderun::informer {

// Counts for /metrics. Thread-safe reads.
struct InformerStats {
  std::atomic<long> relists_gone{0};    // relists after 410 Gone / Expired
  std::atomic<long> relists_error{0};   // relists after a malformed event
  std::atomic<long> watch_restarts{0};  // watches resumed from the last resourceVersion
  std::atomic<long> list_errors{0};     // failed list attempts (each followed by a backoff)
  std::atomic<long> watch_errors{0};    // failed watches (dropped connection, refused, ...)
};

// Receives what one Reflector sees, always from that Reflector's thread. A full list is
// ListBegin, ListItem*, then ListEnd (replace this namespace's part of the cache with the
// items) or ListAbort (discard them).
class ReflectorSink {
 public:
  virtual ~ReflectorSink() = default;
  virtual void ListBegin() = 0;
  virtual void ListItem(kube::json&& object) = 0;
  virtual void ListEnd() = 0;
  virtual void ListAbort() = 0;
  virtual void Upsert(kube::json&& object) = 0;  // ADDED or MODIFIED
  virtual void Remove(kube::json&& object) = 0;  // DELETED
};

struct ReflectorOptions {
  kube::Resource resource;
  std::string ns;  // "" = all namespaces (or a cluster-scoped resource)
  std::string label_selector;
  kube::DropKeys drop_keys;
  int page_size = 200;
  int watch_timeout_seconds = 60;  // the server ends a watch after this + up to 25% jitter
  std::chrono::milliseconds backoff_initial{100};
  std::chrono::milliseconds backoff_max{30000};
};

// Runs: list (paged) → sink, then watch from the list's resourceVersion. A watch the server
// ends normally resumes from the last resourceVersion seen (object or bookmark); 410 Gone
// (refused watch or ERROR event) or an undecodable event relists; any other failure retries
// the same step after a capped, jittered exponential backoff (also applied before a relist
// when the watch failed at once, and after a watch that ended at once without events).
// The backoff resets after a watch that delivered events or stayed open >= 1 s. One log
// line per failed attempt. Never gives up until Stop.
//
// Stop latency: RequestStop cancels the context of the list or watch in flight (the
// transport closes its connection) and wakes backoff waits, so the thread ends promptly
// even when the server is silent or hung.
class Reflector {
 public:
  // `client`, `sink`, `clock` and `stats` must outlive the Reflector.
  Reflector(kube::Client& client, ReflectorOptions options, ReflectorSink& sink, Clock& clock,
            InformerStats& stats);
  ~Reflector();  // RequestStop() and Join()
  Reflector(const Reflector&) = delete;
  Reflector& operator=(const Reflector&) = delete;

  void Start();        // starts the thread; once
  void RequestStop();  // returns at once; the thread winds down
  void Join();         // waits for the thread; idempotent

  // True once the first full list has been handed to the sink.
  bool HasSynced() const { return synced_.load(); }
  // The resourceVersion the next watch would resume from (for tests and debugging).
  std::string LastResourceVersion() const;

 private:
  // kEmpty: ended normally, but at once and without events (backs off like an error).
  enum class WatchEnd { kNormal, kEmpty, kStopped, kGone, kBadEvent, kError };

  void Run();
  // Lists every page into the sink; on success records the list's resourceVersion.
  absl::Status ListAll();
  WatchEnd WatchOnce(std::string* detail);
  // Waits `d` on the Clock; false if stopped meanwhile.
  bool SleepFor(std::chrono::nanoseconds d);
  std::chrono::nanoseconds NextBackoff() { return backoff_.Next(); }
  bool stopping() const { return stopping_.load(); }

  kube::Client& client_;
  const ReflectorOptions options_;
  ReflectorSink& sink_;
  Clock& clock_;
  InformerStats& stats_;

  std::atomic<bool> synced_{false};
  std::atomic<bool> stopping_{false};
  CancelSource cancel_;  // cancelled by RequestStop: ends the list or watch in flight
  std::thread thread_;

  mutable std::mutex mu_;
  std::condition_variable stop_cv_;  // with mu_: wakes SleepFor on stop
  std::string resource_version_;     // guarded by mu_; written by the thread only

  // Used by the thread only.
  Backoff backoff_;  // up to 20% jitter; reset only by a healthy watch
  std::mt19937_64 rng_;  // the watch timeout's jitter
  bool last_watch_healthy_ = false;   // the last watch delivered events or ran >= 1 s
};

}  // namespace coderun::informer
