#include "reconcile/status.h"


#include "absl/strings/ascii.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_format.h"
#include "api/coderun.h"
#include "common/time.h"
#include "judge/verdict.h"
#include "reconcile/output.h"

namespace coderun::reconcile {

using kube::json;

RunStatus PendingStatus(std::string reason, std::string message, std::string pod_name) {
  return RunStatus{api::kPhasePending, std::move(reason), std::move(message), std::move(pod_name)};
}

RunStatus FailedStatus(std::string reason, std::string message, std::string pod_name) {
  return RunStatus{api::kPhaseFailed, std::move(reason), std::move(message), std::move(pod_name)};
}

namespace {

bool IsImageError(const std::string& reason) {
  return reason == "ErrImagePull" || reason == "ImagePullBackOff" ||
         reason == "InvalidImageName" || reason == "ErrImageNeverPull" ||
         reason == "CreateContainerConfigError" || reason == "CreateContainerError" ||
         reason == "RunContainerError";
}

RunStatus FromTerminated(const Pod& pod, const ContainerTerminated& t) {
  RunStatus st;
  st.pod_name = pod.name;
  st.start_time = t.started_at;
  st.exit_code = t.exit_code;
  if (t.reason == "OOMKilled") {
    st.phase = api::kPhaseFailed;
    st.reason = api::kReasonMemoryLimitExceeded;
    st.message = "the program ran out of memory (OOM killed)";
    st.signal = t.signal != 0 ? t.signal : 9;
    return st;
  }
  if (t.exit_code == 0 && t.signal == 0) {
    st.phase = api::kPhaseSucceeded;
    st.reason = api::kReasonCompleted;
    st.message = "";
    return st;
  }
  st.phase = api::kPhaseFailed;
  int signal = t.signal != 0 ? t.signal : (t.exit_code > 128 && t.exit_code < 160 ? t.exit_code - 128 : 0);
  if (signal != 0) {
    st.reason = api::kReasonKilled;
    st.signal = signal;
    st.message = absl::StrCat("the program was killed by signal ", signal);
  } else {
    st.reason = api::kReasonNonZeroExit;
    st.message = absl::StrCat("the program exited with code ", t.exit_code);
  }
  return st;
}

// A run's (or a case's) output and usage, as status shows them, into `target`.
void PutOutput(const RunOutput& o, json& target) {
  target["stdout"] = o.stdout_text;
  target["stderr"] = o.stderr_text;
  target["stdoutTruncated"] = o.stdout_truncated;
  target["stderrTruncated"] = o.stderr_truncated;
  target["usage"] = {{"wallMillis", o.wall_millis},
                     {"cpuMillis", o.cpu_millis},
                     {"maxRSSBytes", o.max_rss_bytes}};
}

}  // namespace

RunStatus ObservePod(const Pod& pod, std::int64_t deadline_seconds) {
  if (pod.phase == "Failed" && pod.reason == "DeadlineExceeded") {
    return FailedStatus(api::kReasonPodFailed,
                        absl::StrCat("the Pod reached its deadline backstop (activeDeadlineSeconds=",
                                     deadline_seconds, ") before the run ended"),
                        pod.name);
  }
  if (pod.phase == "Failed" && pod.reason == "Evicted") {
    return FailedStatus(api::kReasonPodFailed, absl::StrCat("the Pod was evicted: ", pod.message), pod.name);
  }
  if (pod.terminated) {  // restartPolicy Never: a terminated runner ends the Pod
    return FromTerminated(pod, *pod.terminated);
  }
  if (pod.phase == "Succeeded") {
    RunStatus st{api::kPhaseSucceeded, api::kReasonCompleted, "", pod.name};
    st.exit_code = 0;
    return st;
  }
  if (pod.phase == "Failed") {
    std::string why = pod.message.empty() ? pod.reason : pod.message;
    return FailedStatus(api::kReasonPodFailed,
                        absl::StrCat("the Pod failed", why.empty() ? "" : ": ", why), pod.name);
  }
  if (pod.deleting) {
    return FailedStatus(api::kReasonPodFailed, "the Pod was deleted before the run finished", pod.name);
  }
  if (pod.waiting && IsImageError(pod.waiting->reason)) {
    return FailedStatus(api::kReasonPodFailed,
                        absl::StrCat("the runner container could not start: ",
                                     pod.waiting->reason,
                                     pod.waiting->message.empty() ? "" : ": ",
                                     pod.waiting->message),
                        pod.name);
  }
  if (pod.phase == "Running" || pod.running) {
    RunStatus st{api::kPhaseRunning, api::kReasonRunning, "", pod.name};
    st.start_time = pod.running_started_at.empty() ? pod.start_time : pod.running_started_at;
    return st;
  }
  if (pod.has_unschedulable) {
    return PendingStatus(api::kReasonUnschedulable,
                         absl::StrCat("waiting for room: ", pod.unschedulable_message), pod.name);
  }
  return PendingStatus(api::kReasonPodPending, absl::StrCat("Pod ", pod.name, " created, waiting to start"),
                       pod.name);
}

RunStatus FromReport(const Pod& pod, const api::Report& r, std::int64_t output_cap) {
  RunStatus st;
  st.pod_name = pod.name;
  if (pod.terminated) st.start_time = pod.terminated->started_at;
  RunOutput out{r.stdout_text, r.stderr_text, r.stdout_truncated, r.stderr_truncated,
                r.wall_millis, r.cpu_millis, r.max_rss_bytes};
  const size_t cap = static_cast<size_t>(std::max<std::int64_t>(output_cap, 0));
  out.stdout_truncated |= CutToEncodedSize(out.stdout_text, cap);
  out.stderr_truncated |= CutToEncodedSize(out.stderr_text, cap);
  st.output = std::move(out);
  if (!r.runner_error.empty()) {
    st.phase = api::kPhaseFailed;
    st.reason = api::kReasonPodFailed;
    st.message = absl::StrCat("the runner could not run the program: ", r.runner_error);
    return st;
  }
  if (r.exit_code >= 0) st.exit_code = r.exit_code;
  if (r.signal != 0) st.signal = r.signal;
  st.phase = api::kPhaseFailed;
  switch (r.limit) {
    case api::Limit::kTime:
      st.reason = api::kReasonTimeLimitExceeded;
      st.message = absl::StrCat("the program ran past its time limit and was killed after ",
                                r.wall_millis, " ms");
      return st;
    case api::Limit::kMemory:
      st.reason = api::kReasonMemoryLimitExceeded;
      st.message = "the program ran out of memory (OOM killed)";
      return st;
    case api::Limit::kTerminated:
      st.reason = api::kReasonPodFailed;
      st.message = "the run was stopped from outside (Pod deleted or its deadline reached)";
      return st;
    case api::Limit::kNone:
      break;
  }
  if (r.signal != 0) {
    st.reason = api::kReasonKilled;
    st.message = absl::StrCat("the program was killed by signal ", r.signal);
  } else if (r.exit_code != 0) {
    st.reason = api::kReasonNonZeroExit;
    st.message = absl::StrCat("the program exited with code ", r.exit_code);
  } else {
    st.phase = api::kPhaseSucceeded;
    st.reason = api::kReasonCompleted;
  }
  return st;
}

RunStatus WithoutReport(RunStatus from_pod, const std::string& problem) {
  if (from_pod.phase == api::kPhaseFailed &&
      (from_pod.reason == api::kReasonPodFailed || from_pod.reason == api::kReasonMemoryLimitExceeded)) {
    from_pod.message = absl::StrCat(from_pod.message, from_pod.message.empty() ? "" : "; ", problem);
    return from_pod;
  }
  // The exit code and signal the Pod shows are the runner's, not the program's.
  std::string container = "the runner container ended";
  if (from_pod.signal) {
    container = absl::StrCat("the runner container was killed by signal ", *from_pod.signal);
  } else if (from_pod.exit_code) {
    container = absl::StrCat("the runner container exited with code ", *from_pod.exit_code);
  }
  RunStatus st = FailedStatus(api::kReasonPodFailed, absl::StrCat(problem, "; ", container),
                              std::move(from_pod.pod_name));
  st.pod_uid = std::move(from_pod.pod_uid);
  st.start_time = std::move(from_pod.start_time);
  return st;
}

bool IsConditionReason(std::string_view reason) {
  if (reason.empty() || reason.size() > 1024 || !absl::ascii_isalpha(reason.front())) return false;
  for (char c : reason) {
    if (!absl::ascii_isalnum(c) && c != '_' && c != ',' && c != ':') return false;
  }
  return reason.back() != ',' && reason.back() != ':';
}

bool StatusDiffers(const CodeRun& run, const RunStatus& d) {
  return run.phase != d.phase || run.reason != d.reason || run.message != d.message ||
         (!d.pod_name.empty() && run.pod_name != d.pod_name) ||
         run.queue_position != d.queue_position ||
         (!d.pod_uid.empty() && run.pod_uid != d.pod_uid) ||
         (d.next_case && run.next_case != *d.next_case) ||
         (d.clear_pod && !run.pod_name.empty()) ||
         (!d.warm_pool.empty() && run.warm_pool != d.warm_pool) ||
         (!d.input_digest.empty() && run.input_digest != d.input_digest) ||
         (!d.start_time.empty() && run.start_time != ParseTime(d.start_time).value_or(-1)) ||
         run.observed_generation != run.generation ||
         run.finished_condition_status != (d.Terminal() ? "True" : "False");
}

json StatusPatch(const CodeRun& run, const RunStatus& d, const std::string& now) {
  json status = {{"phase", d.phase},
                 {"reason", d.reason},
                 {"message", d.message},
                 {"observedGeneration", run.generation}};
  if (d.queue_position) {
    status["queuePosition"] = *d.queue_position;
  } else if (run.queue_position) {
    status["queuePosition"] = nullptr;  // merge patch: remove
  }
  if (d.next_case) status["nextCase"] = *d.next_case;
  if (d.next_case || d.clear_pod) {
    status["podName"] = nullptr;  // merge patch: remove (the next Pod is not created yet)
    status["podUID"] = nullptr;
  }
  if (!d.warm_pool.empty()) status["warmPool"] = d.warm_pool;
  if (!d.input_digest.empty()) status["inputDigest"] = d.input_digest;
  if (!d.pod_name.empty()) status["podName"] = d.pod_name;
  if (!d.pod_uid.empty()) status["podUID"] = d.pod_uid;
  if (!d.start_time.empty()) status["startTime"] = d.start_time;
  if (d.exit_code) status["exitCode"] = *d.exit_code;
  if (d.signal) status["signal"] = *d.signal;
  if (d.Terminal()) status["completionTime"] = now;
  if (d.output) PutOutput(*d.output, status);
  if (d.judge) {
    const JudgeStatus& j = *d.judge;
    if (!j.verdict.empty()) status["verdict"] = j.verdict;
    status["testsPassed"] = j.passed;
    status["testsTotal"] = j.total;
    status["passed"] = absl::StrCat(j.passed, "/", j.total);
    json tests = json::array();
    for (const CaseStatus& c : j.cases) {
      json t = {{"name", c.name}, {"verdict", c.verdict}};
      if (!c.message.empty()) t["message"] = c.message;
      if (c.exit_code) t["exitCode"] = *c.exit_code;
      if (c.signal) t["signal"] = *c.signal;
      if (c.output) PutOutput(*c.output, t);
      tests.push_back(std::move(t));
    }
    status["tests"] = std::move(tests);
  }
  const std::string cond_status = d.Terminal() ? "True" : "False";
  const std::string transition =
      run.finished_condition_status == cond_status && run.finished_condition_time != 0
          ? FormatTime(run.finished_condition_time)
          : now;
  // metav1.Condition wants a reason matching ^[A-Za-z]([A-Za-z0-9_,:]*[A-Za-z0-9_])?$; a
  // status reason that is not one (empty, or a kubelet's it passed on) becomes the phase.
  const std::string& reason = IsConditionReason(d.reason) ? d.reason : d.phase;
  auto condition = [&](const char* type, const std::string& value) {
    return json{{"type", type},
                {"status", value},
                {"reason", reason},
                {"message", d.message},
                {"observedGeneration", run.generation},
                {"lastTransitionTime", transition}};
  };
  // Reconciling flips with Finished (so shares its transition time); Stalled appears with a
  // failed terminal status, which is written once.
  json conditions = json::array({condition(api::kConditionFinished, cond_status)});
  if (!d.Terminal()) conditions.push_back(condition(api::kConditionReconciling, "True"));
  if (d.phase == api::kPhaseFailed) conditions.push_back(condition(api::kConditionStalled, "True"));
  status["conditions"] = std::move(conditions);
  return {{"metadata", {{"resourceVersion", run.resource_version}}}, {"status", status}};
}

absl::StatusOr<CaseStatus> ParseCaseStatus(const json& item) {
  if (!item.is_object()) return absl::InvalidArgumentError("a case is not an object");
  CaseStatus c;
  c.name = StringField(item, "name");
  c.verdict = StringField(item, "verdict");
  if (c.name.empty() || !judge::ParseVerdict(c.verdict)) {
    return absl::InvalidArgumentError(
        absl::StrCat("case \"", c.name.substr(0, 64), "\" has no known verdict"));
  }
  c.message = StringField(item, "message");
  auto int32 = [&](const char* key) -> std::optional<std::int32_t> {
    auto it = item.find(key);
    if (it == item.end() || !it->is_number_integer()) return std::nullopt;
    return it->get<std::int32_t>();
  };
  c.exit_code = int32("exitCode");
  c.signal = int32("signal");
  if (auto usage = item.find("usage"); usage != item.end() && usage->is_object()) {
    auto uint = [&](const char* key) -> std::uint64_t {
      auto it = usage->find(key);
      return it != usage->end() && it->is_number_unsigned() ? it->get<std::uint64_t>() : 0;
    };
    auto flag = [&](const char* key) {
      auto it = item.find(key);
      return it != item.end() && it->is_boolean() && it->get<bool>();
    };
    c.output = RunOutput{StringField(item, "stdout"), StringField(item, "stderr"),
                         flag("stdoutTruncated"), flag("stderrTruncated"),
                         uint("wallMillis"), uint("cpuMillis"), uint("maxRSSBytes")};
  }
  return c;
}

std::string FormatTime(std::int64_t unix_seconds) {
  return FormatRfc3339(WallTime{std::chrono::seconds(unix_seconds)});
}

std::optional<std::int64_t> ParseTime(const std::string& rfc3339) {
  return ParseRfc3339Seconds(rfc3339);
}

}  // namespace coderun::reconcile
