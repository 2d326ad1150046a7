// The bearer token of an API client: a fixed one, or one kept in a file that is rewritten
// when it rotates (the kubelet's projected service-account token, a kubeconfig tokenFile).
#pragma once

#include <sys/types.h>

#include <chrono>
#include <cstdint>
#include <mutex>
#include <optional>
#include <string>

#include "common/clock.h"

namespace coderun::kube {

inline constexpr std::chrono::seconds kTokenCheckInterval{10};

// Thread-safe. The token never reaches a log line.
class TokenSource {
 public:
  // `token` is used as is when `file` is empty; with a file it is the fallback until the
  // file gives a non-empty token. The file is read once here.
  TokenSource(std::string token, std::string file, Clock& clock = RealClock(),
              std::chrono::nanoseconds check_interval = kTokenCheckInterval);

  // The token to send. With a file: stats it at most once per check interval and reads it
  // only when it changed (device, inode, size, mtime or ctime differ); an unchanged file is
  // never read again. An unreadable or empty file keeps the previous token (logged).
  std::string Get();

  // For a request refused with 401 that carried `rejected`: re-checks the file now (outside
  // the check interval) and returns the token to retry with, or nullopt when there is none
  // other than `rejected` (no file, or the file still says the same). The file is read when
  // it changed, and otherwise at most once a second however many requests are refused.
  std::optional<std::string> Refresh(const std::string& rejected);

  // How many times the file has been read (for tests).
  int reads() const;

 private:
  struct FileId {
    dev_t dev = 0;
    ino_t ino = 0;
    off_t size = -1;
    std::int64_t mtime_ns = -1, ctime_ns = -1;
    bool operator==(const FileId&) const = default;
  };
  // Stats file_ (following symlinks: the kubelet swaps a "..data" link). nullopt on error.
  std::optional<FileId> Stat() const;
  // Reads file_ into token_ (kept when the read fails or is empty) and records `id`. A new
  // token is logged (file and `why`, never the token) unless `why` is null. Requires mu_.
  void ReadLocked(std::optional<FileId> id, const char* why);

  const std::string file_;
  Clock& clock_;
  const std::chrono::nanoseconds check_interval_;
  mutable std::mutex mu_;
  std::string token_;                      // guarded by mu_
  std::optional<FileId> file_id_;          // guarded by mu_: what the last read saw
  SteadyTime checked_at_;                  // guarded by mu_: last stat
  std::optional<SteadyTime> forced_at_;    // guarded by mu_: last read forced by a 401
  int reads_ = 0;                          // guarded by mu_
};

}  // namespace coderun::kube
