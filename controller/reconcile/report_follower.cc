#include "reconcile/report_follower.h"

#include <algorithm>
#include <charconv>
#include <utility>
#include <vector>

#include "absl/strings/str_cat.h"
#include "common/log.h"
#include "reconcile/pod.h"
#include "runner/report.h"

namespace coderun::reconcile {
namespace {

// Longest header line worth waiting for: the prefix and a 20-digit length.
constexpr size_t kMaxHeaderBytes = runner::kReportHeader.size() + 20;

bool PodEnded(const Pod& pod) {
  return pod.deleting || pod.terminated.has_value() || pod.phase == "Succeeded" ||
         pod.phase == "Failed";
}

}  // namespace

FrameState CheckFrame(std::string_view log) {
  const size_t newline = log.find('\n');
  if (newline == std::string_view::npos) {
    const size_t n = std::min(log.size(), runner::kReportHeader.size());
    if (log.substr(0, n) != runner::kReportHeader.substr(0, n) || log.size() > kMaxHeaderBytes) {
      return FrameState::kNotAFrame;
    }
    return FrameState::kPartial;
  }
  std::string_view header = log.substr(0, newline);
  if (header.substr(0, runner::kReportHeader.size()) != runner::kReportHeader) {
    return FrameState::kNotAFrame;
  }
  std::string_view digits = header.substr(runner::kReportHeader.size());
  size_t json_bytes = 0;
  auto [end, ec] = std::from_chars(digits.data(), digits.data() + digits.size(), json_bytes);
  if (ec != std::errc() || end != digits.data() + digits.size() || digits.empty() ||
      json_bytes > runner::kMaxReportJsonBytes) {
    return FrameState::kNotAFrame;
  }
  const size_t whole = newline + 1 + json_bytes + 1 + runner::kReportTrailer.size();
  return log.size() >= whole ? FrameState::kComplete : FrameState::kPartial;
}

ReportFollower::ReportFollower(kube::Client& client, PodLookup pods, Notify notify,
                               metrics::Registry* metrics, ReportFollowerOptions options)
    : client_(client),
      pods_(std::move(pods)),
      notify_(std::move(notify)),
      metrics_(metrics),
      options_(options) {}

ReportFollower::~ReportFollower() {
  Stop();
  std::map<std::string, std::thread> threads;
  {
    std::lock_guard lock(mu_);
    threads.swap(threads_);
    finished_.clear();
  }
  // Outside mu_: an ending thread takes it once more to say so.
  for (auto& [uid, thread] : threads) thread.join();
}

void ReportFollower::Stop() {
  {
    std::lock_guard lock(mu_);
    stopping_ = true;
  }
  stop_cv_.notify_all();
}

void ReportFollower::ReapLocked() {
  for (const std::string& uid : finished_) {
    auto it = threads_.find(uid);
    if (it == threads_.end()) continue;
    it->second.join();  // it has left mu_ for good and is returning
    threads_.erase(it);
  }
  finished_.clear();
}

bool ReportFollower::Follow(const Pod& pod, const std::string& run_key, size_t max_frame_bytes,
                            std::chrono::steady_clock::duration give_up_after) {
  std::lock_guard lock(mu_);
  if (stopping_) return false;
  ReapLocked();
  // A follow still ending after Forget() also counts: never two threads for one UID.
  if (seen_.contains(pod.uid) || threads_.contains(pod.uid)) return true;
  if (static_cast<int>(threads_.size()) >= options_.max_followers) {
    Count("limit");
    return false;
  }
  seen_.insert(pod.uid);
  Target target{pod.ns, pod.name, pod.uid, run_key, max_frame_bytes,
                std::chrono::steady_clock::now() + give_up_after};
  threads_.emplace(pod.uid, std::thread([this, target = std::move(target)] {
    Run(target);
    std::lock_guard lock(mu_);
    finished_.insert(target.pod_uid);
  }));
  return true;
}

std::string ReportFollower::StopReason(const Target& target) const {
  if (stopping_) return "stopped";
  if (std::chrono::steady_clock::now() >= target.give_up_at) return "deadline";
  std::shared_ptr<const Pod> pod = pods_(target.ns + "/" + target.pod);
  if (!pod || pod->uid != target.pod_uid || PodEnded(*pod)) return "pod_ended";
  return "";
}

bool ReportFollower::Sleep(std::chrono::milliseconds d) {
  std::unique_lock lock(mu_);
  return !stop_cv_.wait_for(lock, d, [this] { return stopping_.load(); });
}

void ReportFollower::Run(const Target& target) {
  std::chrono::milliseconds backoff = options_.initial_backoff;
  absl::Status last_error;
  while (true) {
    const std::string reason = StopReason(target);
    if (reason == "stopped") return;
    if (reason == "pod_ended") {
      Count("pod_ended");
      return;
    }
    if (reason == "deadline") {
      log::Warn("runner log follow gave up: deadline passed",
                {{"pod", target.ns + "/" + target.pod},
                 {"error", std::string(last_error.message())}});
      Count("error");
      return;
    }
    bool hopeless = false;
    absl::StatusOr<std::string> frame = ReadOnce(target, &hopeless);
    if (frame.ok()) {
      {
        std::lock_guard lock(mu_);
        frames_[target.pod_uid] = *std::move(frame);
      }
      log::Debug("runner report received", {{"pod", target.ns + "/" + target.pod}});
      Count("frame");
      notify_(target.run_key);
      return;
    }
    if (hopeless) {
      log::Warn("runner log follow gave up",
                {{"pod", target.ns + "/" + target.pod},
                 {"error", std::string(frame.status().message())}});
      Count("error");
      return;
    }
    last_error = frame.status();
    if (!Sleep(backoff)) return;
    backoff = std::min(backoff * 2, options_.max_backoff);
  }
}

absl::StatusOr<std::string> ReportFollower::ReadOnce(const Target& target, bool* hopeless) {
  std::string log;
  FrameState state = FrameState::kPartial;
  bool too_big = false;
  absl::Status st = client_.PodLogFollow(
      target.ns, target.pod, kRunnerContainer, static_cast<long>(target.max_frame_bytes),
      [&](std::string_view data) {
        if (stopping_) return false;
        if (log.size() + data.size() > target.max_frame_bytes) {
          too_big = true;
          return false;
        }
        log.append(data);
        state = CheckFrame(log);
        return state == FrameState::kPartial;
      });
  if (state == FrameState::kComplete) return log;
  if (state == FrameState::kNotAFrame) {
    *hopeless = true;
    return absl::DataLossError("the runner log does not start with a report frame");
  }
  if (too_big || (target.max_frame_bytes > 0 && log.size() >= target.max_frame_bytes)) {
    *hopeless = true;
    return absl::ResourceExhaustedError(
        absl::StrCat("the runner log outgrew ", target.max_frame_bytes, " bytes"));
  }
  if (!st.ok()) return st;
  return absl::UnavailableError("the log ended before the report was complete");
}

std::optional<std::string> ReportFollower::Frame(const std::string& pod_uid) const {
  std::lock_guard lock(mu_);
  auto it = frames_.find(pod_uid);
  if (it == frames_.end()) return std::nullopt;
  return it->second;
}

void ReportFollower::Drop(const std::string& pod_uid) {
  std::lock_guard lock(mu_);
  frames_.erase(pod_uid);
}

void ReportFollower::Forget(const std::string& pod_uid) {
  std::lock_guard lock(mu_);
  frames_.erase(pod_uid);
  seen_.erase(pod_uid);
}

int ReportFollower::Active() const {
  std::lock_guard lock(mu_);
  return static_cast<int>(threads_.size() - finished_.size());
}

size_t ReportFollower::FramesHeld() const {
  std::lock_guard lock(mu_);
  return frames_.size();
}

void ReportFollower::Count(const char* result) {
  if (!metrics_) return;
  metrics_->Inc(kReportFollowTotal, "Runner log follows (early finish), by how they ended.",
                {{"result", result}});
}

}  // namespace coderun::reconcile
