// What bounds one call: a deadline and a cancellation token (the shape of Go's
// context.Context, without values). Every Transport and Client call takes one.
//
//   CancelSource stop;                                  // owned by whoever may cancel
//   Context ctx = stop.context().WithTimeout(10s);      // cancelled by stop or after 10 s
//   client.Get(ctx, kube::kLeases, ns, name);           // returns at the latest then
//
// A Context is a small value, cheap to copy and safe to share between threads. The default
// one has no deadline and is never cancelled. Deadlines are on the steady clock: they bound
// real I/O, so they never come from a fake clock.
#pragma once

#include <chrono>
#include <functional>
#include <memory>
#include <optional>

#include "absl/status/status.h"

namespace coderun {

namespace internal {
struct CancelState;
}

using Deadline = std::chrono::steady_clock::time_point;

// Unregisters its callback when destroyed (after which the callback never runs, and is not
// running). Move-only.
class CancelRegistration {
 public:
  CancelRegistration() = default;
  CancelRegistration(CancelRegistration&& other) noexcept;
  CancelRegistration& operator=(CancelRegistration&& other) noexcept;
  ~CancelRegistration();

 private:
  friend class Context;
  CancelRegistration(std::shared_ptr<internal::CancelState> state, unsigned long id);
  void Reset();
  std::shared_ptr<internal::CancelState> state_;
  unsigned long id_ = 0;
};

class Context {
 public:
  Context() = default;  // no deadline, never cancelled

  // This context with its deadline moved to `deadline` if that is earlier.
  Context WithDeadline(Deadline deadline) const;
  Context WithTimeout(std::chrono::steady_clock::duration timeout) const;

  std::optional<Deadline> deadline() const { return deadline_; }
  bool cancelled() const;
  // Cancelled when cancelled, DeadlineExceeded when the deadline has passed, else OK.
  absl::Status Err() const;

  // Runs `callback` once on the thread that cancels, or at once (on this thread) when
  // already cancelled. Deadlines do not call it: a caller that waits watches those itself.
  [[nodiscard]] CancelRegistration OnCancel(std::function<void()> callback) const;

  // Sleeps for `period`, or less when cancelled or at the deadline. True when the whole
  // period passed.
  bool SleepFor(std::chrono::steady_clock::duration period) const;

 private:
  friend class CancelSource;
  std::shared_ptr<internal::CancelState> cancel_;  // null: cannot be cancelled
  std::optional<Deadline> deadline_;
};

// What waits between attempts (rate limiter, elector): sleeps for the given time unless `ctx`
// ends first; true when the whole time passed. Tests pass one that advances a FakeClock.
using Sleeper = std::function<bool(const Context& ctx, std::chrono::nanoseconds)>;
// The real one: ctx.SleepFor(d).
bool RealSleep(const Context& ctx, std::chrono::nanoseconds d);

// Owns a cancellation token. Thread-safe; Cancel() is idempotent.
class CancelSource {
 public:
  CancelSource();
  Context context() const;
  void Cancel();
  bool cancelled() const;

 private:
  std::shared_ptr<internal::CancelState> state_;
};

}  // namespace coderun
