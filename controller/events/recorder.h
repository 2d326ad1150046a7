// Kubernetes Events about CodeRuns (core/v1 Event), recorded without blocking the caller and
// without flooding: an identical event (same object, type, reason and message) is sent once
// and then only counted again after `repeat_interval`.
#pragma once

#include <chrono>
#include <condition_variable>
#include <deque>
#include <map>
#include <mutex>
#include <string>
#include <thread>

#include "absl/status/statusor.h"
#include "common/clock.h"
#include "common/context.h"
#include "kube/client.h"
#include "metrics/registry.h"

namespace coderun::events {

// Constant CamelCase reasons.
inline constexpr char kPodCreated[] = "PodCreated";
inline constexpr char kFinished[] = "Finished";
inline constexpr char kRunFailed[] = "RunFailed";
inline constexpr char kInvalidSpec[] = "InvalidSpec";
inline constexpr char kNamespaceRefused[] = "NamespaceRefused";
inline constexpr char kForeignPod[] = "ForeignPod";
inline constexpr char kForeignSecret[] = "ForeignSecret";
inline constexpr char kWorkloadCreated[] = "WorkloadCreated";  // queued in Kueue
inline constexpr char kForeignWorkload[] = "ForeignWorkload";
inline constexpr char kJudgeVerdict[] = "JudgeVerdict";  // "3/5 passed: WrongAnswer"
// A judge run's container was OOM-killed as a whole; the run goes on in a new Pod.
inline constexpr char kJudgeContinued[] = "JudgeContinued";
inline constexpr char kEvicted[] = "Evicted";  // by Kueue, while the run's Pod lived

struct ObjectRef {
  std::string api_version, kind, ns, name, uid;
};

// Where events go. Thread-safe; never blocks on the network.
class EventSink {
 public:
  virtual ~EventSink() = default;
  // `type` is "Normal" or "Warning".
  virtual void Record(const ObjectRef& object, const std::string& type, const std::string& reason,
                      const std::string& message) = 0;
};

// The recorder's metric: coderun_events_dropped_total, events dropped because the queue was
// full. A detached handle records nothing.
struct RecorderMetrics {
  metrics::Counter dropped;
};
// Registers it in `registry` (where it reads 0 from the start); once per registry
// (AlreadyExists otherwise).
absl::StatusOr<RecorderMetrics> RegisterMetrics(metrics::Registry& registry);

// Sends events from one background thread. At most `max_pending` wait; more are dropped
// (and counted in dropped() and `metrics`). Thread-safe.
class Recorder final : public EventSink {
 public:
  Recorder(kube::Client& client, Clock& clock, std::string component,
           RecorderMetrics metrics = {},
           std::chrono::seconds repeat_interval = std::chrono::minutes(10),
           size_t max_pending = 1000);
  ~Recorder() override;

  void Record(const ObjectRef& object, const std::string& type, const std::string& reason,
              const std::string& message) override;
  void Stop();  // sends nothing more; idempotent

  long dropped() const;

 private:
  struct Pending {
    ObjectRef object;
    std::string type, reason, message, key;
  };
  struct Sent {
    std::string event_name;
    int count = 0;
    SteadyTime last;
  };

  void Loop();
  void Send(const Pending& p);

  kube::Client& client_;
  Clock& clock_;
  const std::string component_;
  const std::chrono::seconds repeat_interval_;
  const size_t max_pending_;
  const RecorderMetrics metrics_;

  mutable std::mutex mu_;
  std::condition_variable cv_;
  std::deque<Pending> queue_;          // guarded by mu_
  std::map<std::string, Sent> sent_;   // guarded by mu_: aggregation key -> what was sent
  long dropped_ = 0;                   // guarded by mu_
  bool stopping_ = false;              // guarded by mu_
  CancelSource cancel_;                // cancelled by Stop: ends a write in flight
  std::thread thread_;
};

}  // namespace coderun::events
