// Early finish: follows a running run Pod's runner log and keeps the runner's report frame
// as soon as it is complete, so the reconciler can finish the run without waiting for the
// kubelet to notice the container exit (its PLEG relists only every second).
//
// The runner writes its report as its very last act, after the program and all its
// processes are dead and the pipes drained, and the container's stdout holds nothing else:
// a complete frame in the log is final. Whether it is also valid is the reader's question
// (runner::ParseReport); this class only decides completeness from the frame's own length.
#pragma once

#include <atomic>
#include <chrono>
#include <condition_variable>
#include <cstddef>
#include <functional>
#include <map>
#include <memory>
#include <mutex>
#include <optional>
#include <set>
#include <string>
#include <string_view>
#include <thread>

#include "kube/client.h"
#include "metrics/registry.h"
#include "reconcile/types.h"

namespace coderun::reconcile {

inline constexpr char kReportFollowTotal[] = "coderun_report_follow_total";

struct ReportFollowerOptions {
  int max_followers = 64;  // concurrent follows; beyond it runs take the usual path
  std::chrono::milliseconds initial_backoff{100};  // between reads, doubling on each retry
  std::chrono::milliseconds max_backoff{1000};
};

// How far `log` (read from its start) is from holding a whole frame, judged only by the
// length its header announces, never by the frame's validity: kPartial (more may come),
// kComplete (all the bytes the header announces are there), kNotAFrame (its first line is
// not a frame header, so it will never become one).
enum class FrameState { kPartial, kComplete, kNotAFrame };
FrameState CheckFrame(std::string_view log);

// One thread per followed Pod. Thread-safe.
//
// Shutdown: Stop() returns at once; follower threads see the stop flag between reads, in
// their backoff waits and whenever bytes arrive, but one may sit in a blocking read (a
// silent log) for up to kube::kLogFollowTimeout. The destructor joins them, so it may wait
// that long; an exiting process skips it (main.cc _Exits after the workers stop), as it
// does for the informers' watch threads.
class ReportFollower {
 public:
  // The cached Pod at "ns/name" (null if gone); read between reads to know when to stop.
  using PodLookup = std::function<std::shared_ptr<const Pod>(const std::string& key)>;
  // Called with the run's key once its frame is complete (e.g. the work queue's Add).
  using Notify = std::function<void(const std::string& run_key)>;

  // `metrics` (may be null) gets coderun_report_follow_total{result}: frame, pod_ended,
  // error (deadline passed, the log outgrew the bound, or not a frame) or limit (not
  // followed: max_followers busy). `client`, `metrics` must outlive this object.
  ReportFollower(kube::Client& client, PodLookup pods, Notify notify,
                 metrics::Registry* metrics, ReportFollowerOptions options = {});
  ~ReportFollower();

  ReportFollower(const ReportFollower&) = delete;
  ReportFollower& operator=(const ReportFollower&) = delete;

  // Starts following `pod`'s runner container log, reading at most `max_frame_bytes`, until
  // a complete frame arrived (kept under the Pod's UID; `run_key` is notified), the Pod is
  // gone, replaced, terminal or being deleted, or `give_up_after` has passed. Does nothing
  // if this Pod UID is or was already followed (until Forget), or after Stop(). False when
  // max_followers are busy. Quick: never blocks on the network.
  bool Follow(const Pod& pod, const std::string& run_key, size_t max_frame_bytes,
              std::chrono::steady_clock::duration give_up_after);

  // The complete frame received for Pod `pod_uid`, if any.
  std::optional<std::string> Frame(const std::string& pod_uid) const;
  // Drops the frame of `pod_uid` (after use, or when it did not parse); the Pod is not
  // followed again.
  void Drop(const std::string& pod_uid);
  // The Pod is gone: drops its frame and its record, so the store cannot grow.
  void Forget(const std::string& pod_uid);

  // Follows running now.
  int Active() const;
  // Frames held now.
  size_t FramesHeld() const;

  // Asks every follower to end; returns without waiting. Idempotent.
  void Stop();

 private:
  struct Target {
    std::string ns, pod, pod_uid, run_key;
    size_t max_frame_bytes = 0;
    std::chrono::steady_clock::time_point give_up_at;
  };
  void Run(const Target& target);
  // One read of the log from its start: the frame's bytes when complete, else why not.
  // Sets *hopeless when another read cannot do better (not a frame, or over the bound).
  absl::StatusOr<std::string> ReadOnce(const Target& target, bool* hopeless);
  // Why to stop, or "" to go on.
  std::string StopReason(const Target& target) const;
  // Waits `d` unless stopped first; false if stopped.
  bool Sleep(std::chrono::milliseconds d);
  void Count(const char* result);
  void ReapLocked();

  kube::Client& client_;
  const PodLookup pods_;
  const Notify notify_;
  metrics::Registry* const metrics_;  // may be null
  const ReportFollowerOptions options_;

  std::atomic<bool> stopping_{false};  // set (under mu_, for stop_cv_) by Stop()
  mutable std::mutex mu_;
  std::condition_variable stop_cv_;  // with mu_: stopping_ set
  std::map<std::string, std::thread> threads_;  // Pod UID -> follow; guarded by mu_
  std::set<std::string> finished_;  // UIDs whose thread has ended, to join; guarded by mu_
  std::set<std::string> seen_;      // UIDs followed since their last Forget; guarded by mu_
  std::map<std::string, std::string> frames_;  // Pod UID -> complete frame; guarded by mu_
};

}  // namespace coderun::reconcile
