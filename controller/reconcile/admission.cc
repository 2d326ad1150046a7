#include "reconcile/admission.h"

#include <algorithm>

#include "reconcile/pod.h"

namespace coderun::reconcile {
namespace {

// Admissions counted for the rate behind a queued run's estimated wait.
constexpr std::chrono::seconds kRateWindow{60};

}  // namespace

Admission::Admission(AdmissionLimits limits, Wake wake, Clock& clock)
    : limits_(limits), wake_(std::move(wake)), clock_(clock) {}

Admission::Class Admission::Classify(const Rec& r) {
  switch (PodCounts(r) ? r.pod : PodState::kNone) {
    case PodState::kStarting:
      return Class::kStarting;
    case PodState::kRunning:
      return Class::kRunning;
    case PodState::kFinished:
      return Class::kNone;
    case PodState::kNone:
      break;
  }
  if (r.granted && r.run_live) return Class::kStarting;
  if (r.run_waiting) return Class::kQueued;
  return Class::kNone;
}

void Admission::Enter(const std::string& uid, const Rec& r, Class c) {
  if (c == Class::kNone) return;
  Namespace& n = namespaces_[r.ns];
  switch (c) {
    case Class::kQueued:
      n.queue.insert(KeyOf(r, uid));
      ++queued_;
      break;
    case Class::kStarting:
      ++n.active;
      ++starting_;
      break;
    case Class::kRunning:
      ++n.active;
      ++running_;
      break;
    case Class::kNone:
      break;
  }
}

void Admission::Leave(const std::string& uid, const Rec& r, Class c) {
  if (c == Class::kNone) return;
  auto it = namespaces_.find(r.ns);
  if (it == namespaces_.end()) return;
  Namespace& n = it->second;
  switch (c) {
    case Class::kQueued:
      n.queue.erase(KeyOf(r, uid));
      --queued_;
      break;
    case Class::kStarting:
      --n.active;
      --starting_;
      break;
    case Class::kRunning:
      --n.active;
      --running_;
      break;
    case Class::kNone:
      break;
  }
  if (n.queue.empty() && n.active == 0 && n.paused_until <= clock_.Now()) namespaces_.erase(it);
}

template <typename F>
void Admission::Update(const std::string& uid, F change) {
  auto [it, created] = recs_.try_emplace(uid);
  Rec& r = it->second;
  const Class before = created ? Class::kNone : Classify(r);
  Leave(uid, r, before);
  change(r);
  if (!r.run_live) r.granted = false;
  const Class after = Classify(r);
  Enter(uid, r, after);
  // Kept while the run is live or a Pod owned by its UID is going (that Pod may be seen
  // before its run: it counts once the run is known to be live).
  const bool pod_going = r.pod == PodState::kStarting || r.pod == PodState::kRunning;
  if (!r.run_live && !pod_going) recs_.erase(it);
}

void Admission::OnRun(const CodeRun* old_run, const CodeRun* run) {
  const CodeRun* any = run ? run : old_run;
  if (!any) return;
  std::vector<std::string> wake;
  {
    std::lock_guard lock(mu_);
    const bool live = run && !run->Terminal() && !run->deleting;
    // Finished runs without a record (most events of a big cache) change nothing.
    if (!live && !recs_.count(any->uid)) return;
    Update(any->uid, [&](Rec& r) {
      r.ns = any->ns;
      r.name = any->name;
      r.created = any->creation_time;
      r.priority = any->priority;
      r.own_pod = PodName(any->name, any->uid);
      r.run_live = live;
      r.run_waiting = live && run->pod_name.empty();
    });
    wake = Pump();
  }
  WakeAll(wake);
}

void Admission::OnPod(const Pod* old_pod, const Pod* pod) {
  const Pod* any = pod ? pod : old_pod;
  if (!any || any->controller_kind != "CodeRun" || any->controller_uid.empty()) return;
  PodState state = PodState::kNone;
  if (pod) {
    if (pod->deleting || pod->terminated || pod->phase == "Succeeded" || pod->phase == "Failed") {
      state = PodState::kFinished;
    } else if (pod->running || pod->phase == "Running") {
      state = PodState::kRunning;
    } else {
      state = PodState::kStarting;
    }
  }
  std::vector<std::string> wake;
  {
    std::lock_guard lock(mu_);
    if (state == PodState::kNone && !recs_.count(any->controller_uid)) return;
    Update(any->controller_uid, [&](Rec& r) {
      if (r.ns.empty()) r.ns = any->ns;
      if (r.name.empty()) r.name = any->controller_name;
      r.pod = state;
      r.pod_name = any->name;
      // The run's own Pod now holds the slot the grant held.
      if (state != PodState::kNone && PodCounts(r)) r.granted = false;
    });
    wake = Pump();
  }
  WakeAll(wake);
}

void Admission::Open() {
  std::vector<std::string> wake;
  {
    std::lock_guard lock(mu_);
    open_ = true;
    wake = Pump();
  }
  WakeAll(wake);
}

bool Admission::Eligible(const Namespace& n, SteadyTime now) const {
  if (n.queue.empty() || n.paused_until > now) return false;
  return limits_.max_running_per_namespace <= 0 || n.active < limits_.max_running_per_namespace;
}

std::vector<std::string> Admission::Pump() {
  std::vector<std::string> wake;
  if (!open_) return wake;
  const SteadyTime now = clock_.Now();
  const std::int64_t unix_now = UnixSeconds(clock_);
  while (starting_ < std::max<std::int64_t>(1, limits_.max_starting) &&
         (limits_.max_running <= 0 || starting_ + running_ < limits_.max_running)) {
    // The next namespace after the cursor (wrapping) that may be given a run.
    auto it = namespaces_.upper_bound(cursor_);
    Namespace* chosen = nullptr;
    std::string chosen_ns;
    for (std::size_t seen = 0; seen < namespaces_.size(); ++seen, ++it) {
      if (it == namespaces_.end()) it = namespaces_.begin();
      if (Eligible(it->second, now)) {
        chosen = &it->second;
        chosen_ns = it->first;
        break;
      }
    }
    if (!chosen) break;
    const std::string uid = chosen->queue.begin()->uid;
    cursor_ = chosen_ns;
    std::string key;
    Update(uid, [&](Rec& r) {
      r.granted = true;
      if (r.first_admitted == 0) r.first_admitted = unix_now;
      key = r.ns + "/" + r.name;
    });
    wake.push_back(std::move(key));
    recent_grants_.push_back(now);
  }
  while (!recent_grants_.empty() && recent_grants_.front() < now - kRateWindow) {
    recent_grants_.pop_front();
  }
  return wake;
}

void Admission::WakeAll(const std::vector<std::string>& keys) {
  for (const std::string& key : keys) wake_(key);
}

QueuePlace Admission::PlaceOf(const Rec& r, const std::string& uid) const {
  QueuePlace place;
  auto own = namespaces_.find(r.ns);
  const std::int64_t ahead_here =
      own == namespaces_.end()
          ? 0
          : static_cast<std::int64_t>(own->second.queue.order_of_key(KeyOf(r, uid)));
  // Round-robin: each other namespace gives at most as many runs before this one as this
  // namespace has ahead of it, plus the one of its turn.
  std::int64_t ahead = ahead_here;
  for (const auto& [ns, n] : namespaces_) {
    if (ns == r.ns) continue;
    ahead += std::min<std::int64_t>(static_cast<std::int64_t>(n.queue.size()), ahead_here + 1);
  }
  place.position = ahead + 1;
  place.in_namespace = ahead_here;
  const SteadyTime now = clock_.Now();
  std::int64_t recent = 0;
  for (auto t = recent_grants_.rbegin(); t != recent_grants_.rend() && *t >= now - kRateWindow;
       ++t) {
    ++recent;
  }
  if (recent > 0) {
    const double per_second = static_cast<double>(recent) / kRateWindow.count();
    place.eta = std::chrono::seconds(static_cast<std::int64_t>((ahead + 1) / per_second));
  }
  return place;
}

Admission::Decision Admission::Admit(const CodeRun& run) {
  Decision d;
  std::vector<std::string> wake;
  {
    std::lock_guard lock(mu_);
    // The reconciler may see the run before its informer event reached us: record it.
    if (!recs_.count(run.uid)) {
      Update(run.uid, [&](Rec& r) {
        r.ns = run.ns;
        r.name = run.name;
        r.created = run.creation_time;
        r.priority = run.priority;
        r.own_pod = PodName(run.name, run.uid);
        r.run_live = !run.Terminal() && !run.deleting;
        r.run_waiting = r.run_live && run.pod_name.empty();
      });
    }
    wake = Pump();
    if (auto it = recs_.find(run.uid); it != recs_.end()) {
      const Class c = Classify(it->second);
      // A slot held (a grant, or a Pod of its own waiting or running): admitted. Queued, or
      // a finished Pod of an earlier attempt still going: not yet.
      d.admitted = c == Class::kStarting || c == Class::kRunning;
      if (d.admitted) {
        d.admitted_at = it->second.first_admitted;
      } else {
        d.place = PlaceOf(it->second, run.uid);
      }
    }
  }
  // The grants Pump gave may include this very run: its own reconcile is under way, so a
  // second one just finds it admitted and its Pod created.
  WakeAll(wake);
  return d;
}

void Admission::Defer(const CodeRun& run, std::chrono::seconds pause) {
  std::vector<std::string> wake;
  {
    std::lock_guard lock(mu_);
    auto it = recs_.find(run.uid);
    if (it == recs_.end() || !it->second.granted) return;
    namespaces_[it->second.ns].paused_until = clock_.Now() + pause;
    Update(run.uid, [](Rec& r) { r.granted = false; });
    wake = Pump();
  }
  WakeAll(wake);
}

AdmissionCounts Admission::Counts() const {
  std::lock_guard lock(mu_);
  return {queued_, starting_, running_};
}

std::int64_t Admission::OldestQueuedCreated() const {
  std::lock_guard lock(mu_);
  std::int64_t oldest = 0;
  // Per namespace the queue is in priority order, so the oldest may be anywhere in it.
  for (const auto& [ns, n] : namespaces_) {
    for (const QKey& k : n.queue) {
      if (oldest == 0 || k.created < oldest) oldest = k.created;
    }
  }
  return oldest;
}

}  // namespace coderun::reconcile
