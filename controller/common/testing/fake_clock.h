// A Clock for tests that only moves when told to. Thread-safe.
#pragma once

#include <chrono>
#include <mutex>

#include "common/clock.h"

namespace coderun {

class FakeClock final : public Clock {
 public:
  SteadyTime Now() const override {
    std::lock_guard lock(mu_);
    return now_;
  }
  WallTime WallNow() const override {
    std::lock_guard lock(mu_);
    return wall_;
  }
  void Advance(std::chrono::nanoseconds d) {
    std::lock_guard lock(mu_);
    now_ += d;
    wall_ += std::chrono::duration_cast<WallTime::duration>(d);
  }

 private:
  mutable std::mutex mu_;
  SteadyTime now_{std::chrono::hours(1000)};                   // guarded by mu_
  WallTime wall_{std::chrono::seconds(1'700'000'000)};          // guarded by mu_
};

}  // namespace coderun
