#include "events/recorder.h"

#include <chrono>
#include <cstdio>

#include "common/log.h"
#include "common/time.h"
#include "kube/errors.h"

namespace coderun::events {
namespace {

using kube::json;

std::string Hex(unsigned long long v) {
  char buf[32];
  std::snprintf(buf, sizeof buf, "%llx", v);
  return buf;
}

// Entries of sent_ are forgotten beyond this many (oldest first by key order is fine: the
// only cost of forgetting is one more event).
constexpr size_t kMaxRemembered = 4096;

}  // namespace

absl::StatusOr<RecorderMetrics> RegisterMetrics(metrics::Registry& registry) {
  auto dropped = registry.AddCounter("coderun_events_dropped_total",
                                     "Kubernetes Events dropped because the send queue was full.");
  if (!dropped.ok()) return dropped.status();
  return RecorderMetrics{(*dropped)->WithLabels()};
}

Recorder::Recorder(kube::Client& client, Clock& clock, std::string component,
                   RecorderMetrics metrics, std::chrono::seconds repeat_interval,
                   size_t max_pending)
    : client_(client),
      clock_(clock),
      component_(std::move(component)),
      repeat_interval_(repeat_interval),
      max_pending_(max_pending),
      metrics_(std::move(metrics)),
      thread_([this] { Loop(); }) {}

Recorder::~Recorder() { Stop(); }

void Recorder::Stop() {
  {
    std::lock_guard lock(mu_);
    stopping_ = true;
  }
  cv_.notify_all();
  cancel_.Cancel();
  if (thread_.joinable()) thread_.join();
}

long Recorder::dropped() const {
  std::lock_guard lock(mu_);
  return dropped_;
}

void Recorder::Record(const ObjectRef& object, const std::string& type, const std::string& reason,
                      const std::string& message) {
  std::string key = object.uid + "\x1f" + type + "\x1f" + reason + "\x1f" + message;
  {
    std::lock_guard lock(mu_);
    if (stopping_) return;
    if (auto it = sent_.find(key);
        it != sent_.end() && clock_.Now() - it->second.last < repeat_interval_) {
      return;  // the same event was sent recently: not a flood
    }
    if (queue_.size() >= max_pending_) {
      ++dropped_;
      metrics_.dropped.Inc();
      return;
    }
    queue_.push_back(Pending{object, type, reason, message, std::move(key)});
  }
  cv_.notify_one();
}

void Recorder::Loop() {
  while (true) {
    Pending p;
    {
      std::unique_lock lock(mu_);
      cv_.wait(lock, [this] { return stopping_ || !queue_.empty(); });
      if (stopping_) return;
      p = std::move(queue_.front());
      queue_.pop_front();
    }
    Send(p);
  }
}

void Recorder::Send(const Pending& p) {
  const auto wall = clock_.WallNow();
  const std::string now = FormatRfc3339(wall);
  Sent previous;
  bool seen = false;
  {
    std::lock_guard lock(mu_);
    if (auto it = sent_.find(p.key); it != sent_.end()) {
      previous = it->second;
      seen = true;
    }
  }
  Sent next;
  next.last = clock_.Now();
  if (seen) {  // aggregate: bump the count of the event already sent
    next.event_name = previous.event_name;
    next.count = previous.count + 1;
    auto patched = client_.MergePatch(cancel_.context(), kube::kEvents, p.object.ns, previous.event_name,
                                      {{"count", next.count}, {"lastTimestamp", now}});
    if (patched.ok()) {
      std::lock_guard lock(mu_);
      sent_[p.key] = next;
      return;
    }
    if (!kube::IsNotFound(patched.status())) {
      log::Warn("event not recorded", {{"reason", p.reason},
                                       {"error", std::string(patched.status().message())}});
      return;
    }
  }
  next.count = 1;
  next.event_name = p.object.name + "." +
                    Hex(static_cast<unsigned long long>(
                        std::chrono::duration_cast<std::chrono::nanoseconds>(wall.time_since_epoch())
                            .count()));
  json event = {
      {"apiVersion", "v1"},
      {"kind", "Event"},
      {"metadata", {{"name", next.event_name}, {"namespace", p.object.ns}}},
      {"involvedObject",
       {{"apiVersion", p.object.api_version}, {"kind", p.object.kind},
        {"namespace", p.object.ns}, {"name", p.object.name}, {"uid", p.object.uid}}},
      {"type", p.type},
      {"reason", p.reason},
      {"message", p.message},
      {"count", 1},
      {"firstTimestamp", now},
      {"lastTimestamp", now},
      {"source", {{"component", component_}}},
      {"reportingComponent", component_}};
  auto created = client_.Create(cancel_.context(), kube::kEvents, p.object.ns, event);
  if (!created.ok()) {
    log::Warn("event not recorded", {{"reason", p.reason},
                                     {"error", std::string(created.status().message())}});
    return;
  }
  std::lock_guard lock(mu_);
  if (sent_.size() >= kMaxRemembered) sent_.erase(sent_.begin());
  sent_[p.key] = next;
}

}  // namespace coderun::events
