// Time source seam: production uses the system clocks, tests a fake.
#pragma once

#include <chrono>
#include <cstdint>

namespace coderun {

using SteadyTime = std::chrono::steady_clock::time_point;
using WallTime = std::chrono::system_clock::time_point;

// Thread-safe implementations only.
class Clock {
 public:
  virtual ~Clock() = default;
  virtual SteadyTime Now() const = 0;      // monotonic, for delays and deadlines
  virtual WallTime WallNow() const = 0;    // for timestamps written to the API
};

// The process-wide real clock.
Clock& RealClock();

// clock.WallNow() as whole Unix seconds (the unit of timestamps the controller writes).
inline std::int64_t UnixSeconds(const Clock& clock) {
  return std::chrono::duration_cast<std::chrono::seconds>(clock.WallNow().time_since_epoch())
      .count();
}

}  // namespace coderun
