#include "leader/elector.h"

#include <unistd.h>

#include <cstdlib>

#include "common/log.h"
#include "common/time.h"
#include "kube/errors.h"

namespace coderun::leader {

using kube::json;

namespace {

// Sleeps for `period` in short steps, returning early once `stop` is set.
void WaitUnless(std::chrono::seconds period, const std::atomic<bool>& stop) {
  constexpr auto kStep = std::chrono::milliseconds(50);
  for (auto waited = std::chrono::milliseconds(0); waited < period && !stop; waited += kStep) {
    std::this_thread::sleep_for(kStep);
  }
}

}  // namespace

std::string DefaultIdentity() {
  char host[256] = {};
  gethostname(host, sizeof host - 1);
  const char* pod = std::getenv("POD_NAME");
  return std::string(pod && *pod ? pod : host) + "_" + std::to_string(getpid());
}

Elector::Elector(kube::Client& client, ElectorOptions options, Clock& clock)
    : client_(client), options_(std::move(options)), clock_(clock) {}

Elector::~Elector() {
  stop_renewing_ = true;
  if (renewer_.joinable()) renewer_.join();
}

std::string Elector::NowMicro() const { return FormatRfc3339(clock_.WallNow(), 6); }

absl::StatusOr<bool> Elector::TryAcquireOrRenew() {
  const std::string now = NowMicro();
  const int duration = static_cast<int>(options_.lease_duration.count());
  auto current = client_.Get(kube::kLeases, options_.lease_namespace, options_.lease_name);
  if (!current.ok()) {
    if (!kube::IsNotFound(current.status())) return current.status();
    json lease = {{"apiVersion", "coordination.k8s.io/v1"},
                  {"kind", "Lease"},
                  {"metadata", {{"name", options_.lease_name},
                                {"namespace", options_.lease_namespace}}},
                  {"spec", {{"holderIdentity", options_.identity},
                            {"leaseDurationSeconds", duration},
                            {"acquireTime", now},
                            {"renewTime", now},
                            {"leaseTransitions", 0}}}};
    auto created = client_.Create(kube::kLeases, options_.lease_namespace, lease);
    if (!created.ok()) {
      if (kube::IsAlreadyExists(created.status())) return false;
      return created.status();
    }
    leading_ = true;
    return true;
  }
  json lease = std::move(*current);
  json& spec = lease["spec"];
  if (!spec.is_object()) spec = json::object();
  const std::string holder = spec.value("holderIdentity", "");
  const std::string record = holder + "|" + spec.value("renewTime", "");
  const auto local_now = clock_.Now();
  bool expired;
  {
    std::lock_guard lock(mu_);
    if (record != observed_record_) {
      observed_record_ = record;
      observed_at_ = local_now;
    }
    const int held_for = spec.value("leaseDurationSeconds", duration);
    expired = local_now - observed_at_ >= std::chrono::seconds(held_for);
  }
  const bool ours = holder == options_.identity;
  if (!ours && !holder.empty() && !expired) {
    leading_ = false;
    return false;
  }
  if (!ours) {
    spec["acquireTime"] = now;
    spec["leaseTransitions"] = spec.value("leaseTransitions", 0) + 1;
  }
  spec["holderIdentity"] = options_.identity;
  spec["leaseDurationSeconds"] = duration;
  spec["renewTime"] = now;
  auto updated = client_.Update(kube::kLeases, options_.lease_namespace, lease);
  if (!updated.ok()) {
    leading_ = false;
    if (kube::IsConflict(updated.status())) return false;  // someone else was faster
    return updated.status();
  }
  leading_ = true;
  return true;
}

bool Elector::Acquire(const std::atomic<bool>& stop) {
  bool logged_wait = false;
  while (!stop) {
    auto got = TryAcquireOrRenew();
    if (got.ok() && *got) {
      log::Info("became leader", {{"lease", options_.lease_namespace + "/" + options_.lease_name},
                                  {"identity", options_.identity}});
      return true;
    }
    if (!got.ok()) {
      log::Warn("leader election failed", {{"error", std::string(got.status().message())}});
    } else if (!logged_wait) {
      log::Info("waiting for leadership", {{"lease", options_.lease_namespace + "/" + options_.lease_name}});
      logged_wait = true;
    }
    WaitUnless(options_.retry_period, stop);
  }
  return false;
}

void Elector::KeepRenewing(std::function<void()> on_lost) {
  renewer_ = std::thread([this, on_lost = std::move(on_lost)] {
    auto last_renew = clock_.Now();
    while (!stop_renewing_) {
      WaitUnless(options_.retry_period, stop_renewing_);
      if (stop_renewing_) return;
      auto renewed = TryAcquireOrRenew();
      if (renewed.ok() && *renewed) {
        last_renew = clock_.Now();
        continue;
      }
      if (clock_.Now() - last_renew >= options_.renew_deadline || (renewed.ok() && !*renewed)) {
        leading_ = false;
        log::Error("leadership lost", {{"error", renewed.ok() ? "another replica holds the lease"
                                                              : std::string(renewed.status().message())}});
        on_lost();
        return;
      }
    }
  });
}

void Elector::Release() {
  stop_renewing_ = true;
  if (renewer_.joinable() && renewer_.get_id() != std::this_thread::get_id()) renewer_.join();
  if (!leading_.exchange(false)) return;
  auto current = client_.Get(kube::kLeases, options_.lease_namespace, options_.lease_name);
  if (!current.ok()) return;
  json lease = std::move(*current);
  if (lease["spec"].value("holderIdentity", "") != options_.identity) return;
  lease["spec"]["holderIdentity"] = "";
  lease["spec"]["leaseDurationSeconds"] = 1;
  lease["spec"]["renewTime"] = NowMicro();
  auto released = client_.Update(kube::kLeases, options_.lease_namespace, lease);
  if (released.ok()) {
    log::Info("leadership released", {{"identity", options_.identity}});
  } else {
    log::Warn("could not release the lease", {{"error", std::string(released.status().message())}});
  }
}

}  // namespace coderun::leader
