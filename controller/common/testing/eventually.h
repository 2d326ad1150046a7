// Test-only: waits for something another thread does.
#pragma once

#include <chrono>
#include <functional>
#include <thread>

namespace coderun::testing {

// Polls `cond` every millisecond until it holds or `timeout` passes; returns its last value.
inline bool Eventually(const std::function<bool()>& cond,
                       std::chrono::steady_clock::duration timeout = std::chrono::seconds(10)) {
  const auto deadline = std::chrono::steady_clock::now() + timeout;
  while (std::chrono::steady_clock::now() < deadline) {
    if (cond()) return true;
    std::this_thread::sleep_for(std::chrono::milliseconds(1));
  }
  return cond();
}

}  // namespace coderun::testing
