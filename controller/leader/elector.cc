#include "leader/elector.h"

#include <unistd.h>

#include <algorithm>
#include <cstdlib>

#include "absl/strings/str_cat.h"
#include "common/log.h"
#include "common/status_macros.h"
#include "common/time.h"
#include "kube/errors.h"

namespace coderun::leader {

using kube::json;

std::string DefaultIdentity() {
  char host[256] = {};
  gethostname(host, sizeof host - 1);
  const char* pod = std::getenv("POD_NAME");
  return std::string(pod && *pod ? pod : host) + "_" + std::to_string(getpid());
}

Elector::Elector(kube::Client& client, ElectorOptions options, Clock& clock, Sleeper sleep)
    : client_(client),
      options_(std::move(options)),
      clock_(clock),
      sleep_(sleep ? std::move(sleep) : Sleeper(RealSleep)) {}

Elector::~Elector() { StopRenewing(); }

void Elector::StopRenewing() {
  stop_renewing_.Cancel();
  if (renewer_.joinable() && renewer_.get_id() != std::this_thread::get_id()) renewer_.join();
}

std::string Elector::NowMicro() const { return FormatRfc3339(clock_.WallNow(), 6); }

absl::StatusOr<bool> Elector::TryAcquireOrRenew(const Context& ctx) {
  try {
    return Attempt(ctx);
  } catch (const std::exception& e) {  // a Lease whose fields have the wrong types
    return absl::InvalidArgumentError(absl::StrCat("malformed Lease ", options_.lease_namespace,
                                                   "/", options_.lease_name, ": ", e.what()));
  }
}

absl::StatusOr<bool> Elector::Attempt(const Context& ctx) {
  const std::string now = NowMicro();
  const int duration = static_cast<int>(
      std::chrono::ceil<std::chrono::seconds>(options_.lease_duration).count());
  auto current = client_.Get(ctx, kube::kLeases, options_.lease_namespace, options_.lease_name);
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
    auto created = client_.Create(ctx, kube::kLeases, options_.lease_namespace, lease);
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
  auto updated = client_.Update(ctx, kube::kLeases, options_.lease_namespace, lease);
  if (!updated.ok()) {
    leading_ = false;
    if (kube::IsConflict(updated.status())) return false;  // someone else was faster
    return updated.status();
  }
  leading_ = true;
  return true;
}

bool Elector::Acquire(const Context& ctx) {
  bool logged_wait = false;
  while (!ctx.cancelled()) {
    auto got = TryAcquireOrRenew(ctx.WithTimeout(options_.renew_deadline));
    if (got.ok() && *got) {
      log::Info("became leader", {{"lease", options_.lease_namespace + "/" + options_.lease_name},
                                  {"identity", options_.identity}});
      return true;
    }
    if (ctx.cancelled()) break;
    if (!got.ok()) {
      log::Warn("leader election failed", {{"error", std::string(got.status().message())}});
    } else if (!logged_wait) {
      log::Info("waiting for leadership", {{"lease", options_.lease_namespace + "/" + options_.lease_name}});
      logged_wait = true;
    }
    if (!sleep_(ctx, options_.retry_period)) break;
  }
  return false;
}

void Elector::KeepRenewing(std::function<void()> on_lost) {
  renewer_ = std::thread([this, on_lost = std::move(on_lost)] { RenewLoop(on_lost); });
}

void Elector::RenewLoop(const std::function<void()>& on_lost) {
  const Context stop = stop_renewing_.context();
  SteadyTime last_renew = clock_.Now();
  // What is left of the renew deadline since the last renewal.
  const auto left = [&] {
    return std::chrono::duration_cast<std::chrono::nanoseconds>(
        options_.renew_deadline - (clock_.Now() - last_renew));
  };
  while (true) {
    if (!sleep_(stop, std::min<std::chrono::nanoseconds>(options_.retry_period, left()))) return;
    absl::StatusOr<bool> renewed =
        left() > std::chrono::nanoseconds::zero()
            ? TryAcquireOrRenew(stop.WithTimeout(left()))
            : absl::DeadlineExceededError("renew deadline passed");
    if (stop.cancelled()) return;
    if (renewed.ok() && *renewed) {
      last_renew = clock_.Now();
      continue;
    }
    if (renewed.ok() || left() <= std::chrono::nanoseconds::zero()) {
      leading_ = false;
      log::Error("leadership lost",
                 {{"error", renewed.ok() ? "another replica holds the lease"
                                         : std::string(renewed.status().message())}});
      on_lost();
      return;
    }
    log::Warn("lease renewal failed", {{"error", std::string(renewed.status().message())}});
  }
}

void Elector::Release() {
  StopRenewing();
  if (!leading_.exchange(false)) return;
  const Context ctx = Context().WithTimeout(options_.renew_deadline);
  absl::Status released = [&]() -> absl::Status {
    try {
      ASSIGN_OR_RETURN(kube::json lease, client_.Get(ctx, kube::kLeases, options_.lease_namespace,
                                                     options_.lease_name));
      if (lease["spec"].value("holderIdentity", "") != options_.identity) return absl::OkStatus();
      lease["spec"]["holderIdentity"] = "";
      lease["spec"]["leaseDurationSeconds"] = 1;
      lease["spec"]["renewTime"] = NowMicro();
      return client_.Update(ctx, kube::kLeases, options_.lease_namespace, lease).status();
    } catch (const std::exception& e) {
      return absl::InvalidArgumentError(absl::StrCat("malformed Lease: ", e.what()));
    }
  }();
  if (released.ok()) {
    log::Info("leadership released", {{"identity", options_.identity}});
  } else {
    log::Warn("could not release the lease", {{"error", std::string(released.message())}});
  }
}

}  // namespace coderun::leader
