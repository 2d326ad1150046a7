#include "kube/token_source.h"

#include <sys/stat.h>

#include <utility>

#include "absl/strings/strip.h"
#include "common/log.h"
#include "kube/kubeconfig.h"

namespace coderun::kube {
namespace {

// However many requests a rejected token fails, the file is read this rarely.
constexpr std::chrono::seconds kForcedReadInterval{1};

std::int64_t Nanos(const timespec& t) {
  return static_cast<std::int64_t>(t.tv_sec) * 1'000'000'000 + t.tv_nsec;
}

}  // namespace

TokenSource::TokenSource(std::string token, std::string file, Clock& clock,
                         std::chrono::nanoseconds check_interval)
    : file_(std::move(file)),
      clock_(clock),
      check_interval_(check_interval),
      token_(std::move(token)),
      checked_at_(clock.Now()) {
  if (file_.empty()) return;
  std::lock_guard lock(mu_);
  ReadLocked(Stat(), nullptr);
}

std::optional<TokenSource::FileId> TokenSource::Stat() const {
  struct stat st;
  if (stat(file_.c_str(), &st) != 0) return std::nullopt;
  return FileId{st.st_dev, st.st_ino, st.st_size, Nanos(st.st_mtim), Nanos(st.st_ctim)};
}

void TokenSource::ReadLocked(std::optional<FileId> id, const char* why) {
  ++reads_;
  absl::StatusOr<std::string> text = ReadFileToString(file_);
  std::string token = text.ok() ? std::string(absl::StripAsciiWhitespace(*text)) : "";
  if (token.empty()) {
    log::Warn("cannot read token file; keeping the previous token",
              {{"file", file_}, {"error", text.ok() ? "empty" : text.status().ToString()}});
    return;  // file_id_ stays: the next check tries again
  }
  if (token != token_ && why != nullptr) {
    log::Info("bearer token re-read from its file", {{"file", file_}, {"why", why}});
  }
  token_ = std::move(token);
  file_id_ = id;
}

std::string TokenSource::Get() {
  std::lock_guard lock(mu_);
  if (file_.empty()) return token_;
  const SteadyTime now = clock_.Now();
  if (now - checked_at_ >= check_interval_) {
    checked_at_ = now;
    std::optional<FileId> id = Stat();
    if (!id || id != file_id_) ReadLocked(id, "changed");
  }
  return token_;
}

std::optional<std::string> TokenSource::Refresh(const std::string& rejected) {
  std::lock_guard lock(mu_);
  if (file_.empty()) return std::nullopt;
  const SteadyTime now = clock_.Now();
  checked_at_ = now;
  std::optional<FileId> id = Stat();
  if (!id || id != file_id_) {
    ReadLocked(id, "changed");
  } else if (token_ == rejected && (!forced_at_ || now - *forced_at_ >= kForcedReadInterval)) {
    forced_at_ = now;
    ReadLocked(id, "401");
  }
  if (token_ == rejected) return std::nullopt;
  return token_;
}

int TokenSource::reads() const {
  std::lock_guard lock(mu_);
  return reads_;
}

}  // namespace coderun::kube
