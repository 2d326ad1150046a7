#include "reconcile/pool.h"

#include <openssl/rand.h>

#include <algorithm>
#include <unordered_map>

#include "absl/strings/str_cat.h"
#include "api/coderun.h"
#include "reconcile/kueue.h"
#include "reconcile/pod.h"
#include "reconcile/status.h"

namespace coderun::reconcile {

using kube::json;

namespace {

std::int64_t IntField(const json& obj, const char* key, std::int64_t fallback) {
  auto it = obj.find(key);
  return it != obj.end() && it->is_number_integer() ? it->get<std::int64_t>() : fallback;
}

const json& Member(const json& obj, const char* key) {
  static const json kNull;
  if (!obj.is_object()) return kNull;
  auto it = obj.find(key);
  return it == obj.end() ? kNull : *it;
}

std::string RandomSuffix() {
  unsigned char bytes[4];
  if (RAND_bytes(bytes, sizeof(bytes)) != 1) {
    const auto t = static_cast<std::uint64_t>(std::chrono::steady_clock::now().time_since_epoch().count());
    for (size_t i = 0; i < sizeof(bytes); ++i) bytes[i] = static_cast<unsigned char>(t >> (8 * i));
  }
  static const char kHex[] = "0123456789abcdef";
  std::string out;
  for (unsigned char b : bytes) {
    out.push_back(kHex[b >> 4]);
    out.push_back(kHex[b & 15]);
  }
  return out;
}

}  // namespace

const PoolPod* Pool::Entry(const std::string& pod_uid) const {
  for (const PoolPod& e : pods) {
    if (e.uid == pod_uid) return &e;
  }
  return nullptr;
}

bool InWarmPod(const CodeRun& run) {
  return !run.warm_pool.empty() && !run.pod_name.empty() &&
         run.pod_name != PodName(run.name, run.uid);
}

absl::StatusOr<Pool> DecodePool(const json& object) {
  const json& meta = Member(object, "metadata");
  if (!meta.is_object()) return absl::InvalidArgumentError("CodeRunPool without metadata");
  const json& spec = Member(object, "spec");
  const json& status = Member(object, "status");
  Pool p;
  p.ns = StringField(meta, "namespace");
  p.name = StringField(meta, "name");
  p.uid = StringField(meta, "uid");
  if (p.name.empty() || p.uid.empty()) {
    return absl::InvalidArgumentError("CodeRunPool without name or uid");
  }
  p.resource_version = StringField(meta, "resourceVersion");
  p.generation = IntField(meta, "generation", 0);
  p.deleting = meta.contains("deletionTimestamp");
  p.size = spec.is_object() ? std::clamp<std::int64_t>(IntField(spec, "size", 0), 0, kMaxPoolSize) : 0;
  p.language = spec.is_object() ? StringField(spec, "language") : "";
  if (p.language.empty()) p.language = api::kDefaultLanguage;
  p.limits = DecodeLimits(spec.is_object() && Member(spec, "limits").is_object()
                              ? Member(spec, "limits")
                              : json::object());
  if (status.is_object()) {
    p.ready = IntField(status, "ready", 0);
    p.starting = IntField(status, "starting", 0);
    p.observed_generation = IntField(status, "observedGeneration", 0);
    const json& conditions = Member(status, "conditions");
    if (conditions.is_array()) {
      for (const json& c : conditions) {
        if (c.is_object() && StringField(c, "type") == "Ready") {
          p.ready_condition_status = StringField(c, "status");
          p.ready_condition_time = StringField(c, "lastTransitionTime");
        }
      }
    }
    const json& pods = Member(status, "pods");
    if (pods.is_array()) {
      for (const json& e : pods) {
        if (!e.is_object()) continue;
        PoolPod pp{StringField(e, "name"), StringField(e, "uid"), StringField(e, "claimedBy"),
                   StringField(e, "claimedByUID"), 0};
        pp.created = ParseTime(StringField(e, "created")).value_or(0);
        if (!pp.name.empty() && !pp.uid.empty()) p.pods.push_back(std::move(pp));
      }
    }
  }
  return p;
}

std::variant<ValidLimits, std::string> ValidatePool(const Pool& pool, const Settings& settings) {
  CodeRun as_run;
  as_run.ns = pool.ns;
  as_run.name = pool.name;
  as_run.language = pool.language;
  as_run.limits = pool.limits;
  return Validate(as_run, settings);
}

bool PoolServes(const Pool& pool, const ValidLimits& p, const CodeRun& run,
                const ValidLimits& r, const Settings& settings) {
  return !pool.deleting && !run.Judged() && run.next_case == 0 &&
         !KueueManaged(run, settings) && run.language == pool.language && !r.judge &&
         r.timeout_seconds == p.timeout_seconds && r.cpu_milli == p.cpu_milli &&
         r.memory_bytes == p.memory_bytes && r.pids == p.pids && r.output_bytes == p.output_bytes;
}

std::string WarmPodName(const Pool& pool) {
  std::string prefix = pool.name.substr(0, 52);
  while (!prefix.empty() && (prefix.back() == '-' || prefix.back() == '.')) prefix.pop_back();
  return absl::StrCat(prefix.empty() ? "pool" : prefix, "-", RandomSuffix());
}

json BuildWarmPod(const Pool& pool, const ValidLimits& limits, const Settings& s,
                  const std::string& name, std::int64_t run_uid) {
  json metadata = {
      {"name", name},
      {"namespace", pool.ns},
      {"labels", {{kManagedByLabel, kManagedByValue}, {kPoolLabel, pool.name}}},
      {"ownerReferences",
       {{{"apiVersion", "coderun.dev/v1alpha1"}, {"kind", "CodeRunPool"}, {"name", pool.name},
         {"uid", pool.uid}, {"controller", true}, {"blockOwnerDeletion", true}}}}};
  json args = {"--await-request", absl::StrCat("--timeout-seconds=", limits.timeout_seconds),
               absl::StrCat("--pids=", limits.pids),
               absl::StrCat("--output-bytes=", limits.output_bytes)};
  json pod = RunnerPod(std::move(metadata), limits, s, run_uid, std::move(args), "", std::nullopt);
  CodeRun as_run;
  as_run.ns = pool.ns;
  as_run.language = pool.language;
  AddPlacement(as_run, s, pod["spec"]);
  return pod;
}

bool WarmPodReady(const Pod& pod) {
  return !pod.deleting && !pod.terminated && pod.running && pod.phase == "Running";
}

PoolPlan PlanPool(const Pool& pool, const std::vector<const Pod*>& pods, std::int64_t now,
                  std::int64_t grace_seconds) {
  std::unordered_map<std::string, const Pod*> by_uid;
  for (const Pod* p : pods) by_uid[p->uid] = p;
  PoolPlan plan;
  std::vector<PoolPod> idle_starting, idle_ready;
  for (const PoolPod& e : pool.pods) {
    auto it = by_uid.find(e.uid);
    if (it == by_uid.end()) {
      // Not cached: just created (the cache lags), or gone. Kept a while, then dropped; a
      // claimed one was seen ready when claimed, so it is gone.
      if (e.claimed_by_uid.empty() && now - e.created < grace_seconds) {
        plan.ledger.push_back(e);
        plan.uncached_entries = true;
        if (e.claimed_by_uid.empty()) {
          ++plan.starting;
          idle_starting.push_back(e);
        }
      }
      continue;
    }
    const Pod& pod = *it->second;
    plan.ledger.push_back(e);
    if (!e.claimed_by_uid.empty() || pod.deleting) continue;
    if (pod.terminated || pod.phase == "Failed" || pod.phase == "Succeeded") {
      // The runner ended while idle (a request someone else attached, a crash): never
      // claimed; it goes and the pool refills.
      plan.delete_pods.push_back(e);
    } else if (WarmPodReady(pod)) {
      ++plan.ready;
      idle_ready.push_back(e);
    } else {
      ++plan.starting;
      idle_starting.push_back(e);
    }
  }
  for (const Pod* p : pods) {
    if (pool.Entry(p->uid) || p->deleting) continue;
    const std::int64_t created = ParseTime(p->creation_timestamp).value_or(now);
    if (now - created >= grace_seconds) {
      plan.strangers.push_back(p->name);
    } else {
      plan.young_strangers = true;
    }
  }
  const std::int64_t idle = plan.ready + plan.starting;
  const std::int64_t want = pool.deleting ? 0 : pool.size;
  if (idle < want) {
    plan.create = want - idle;
  } else if (idle > want) {
    // Starting Pods go first (none of them is ready to serve), then ready ones.
    std::int64_t extra = idle - want;
    for (auto* list : {&idle_starting, &idle_ready}) {
      for (auto e = list->rbegin(); e != list->rend() && extra > 0; ++e, --extra) {
        plan.delete_pods.push_back(*e);
        --(list == &idle_ready ? plan.ready : plan.starting);
      }
    }
  }
  return plan;
}

json PoolStatusPatch(const Pool& pool, const std::vector<PoolPod>& ledger, std::int64_t ready,
                     std::int64_t starting, const std::string& now) {
  json pods = json::array();
  for (const PoolPod& e : ledger) {
    json item = {{"name", e.name}, {"uid", e.uid}, {"created", FormatTime(e.created)}};
    if (!e.claimed_by_uid.empty()) {
      item["claimedBy"] = e.claimed_by;
      item["claimedByUID"] = e.claimed_by_uid;
    }
    pods.push_back(std::move(item));
  }
  const bool full = ready >= pool.size;
  const std::string cond = full ? "True" : "False";
  const std::string transition =
      pool.ready_condition_status == cond && !pool.ready_condition_time.empty()
          ? pool.ready_condition_time
          : now;
  json status = {
      {"pods", std::move(pods)},
      {"ready", ready},
      {"starting", starting},
      {"selector", absl::StrCat(kPoolLabel, "=", pool.name)},
      {"observedGeneration", pool.generation},
      {"conditions",
       {{{"type", "Ready"},
         {"status", cond},
         {"reason", full ? "Warm" : "Starting"},
         {"message", absl::StrCat(ready, " of ", pool.size, " warm Pods ready")},
         {"lastTransitionTime", transition}}}}};
  return {{"metadata", {{"resourceVersion", pool.resource_version}}}, {"status", std::move(status)}};
}

}  // namespace coderun::reconcile
