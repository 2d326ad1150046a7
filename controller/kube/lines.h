// Splits a byte stream into newline-delimited lines (a watch's records) as the bytes arrive,
// for the transports' Stream(). "\r\n" counts as "\n"; a last line without a newline is
// still a line.
#pragma once

#include <cstddef>
#include <functional>
#include <string>
#include <string_view>

#include "absl/status/statusor.h"

namespace coderun::kube {

class LineSplitter {
 public:
  using OnLine = std::function<bool(std::string_view line)>;

  // `max_line` bounds one line (a longer one is an error, not an allocation).
  explicit LineSplitter(size_t max_line) : max_line_(max_line) {}

  // Calls `on_line` for each line `data` completes. True to go on; false when on_line
  // stopped; ResourceExhausted for a line longer than max_line.
  absl::StatusOr<bool> Feed(std::string_view data, const OnLine& on_line);

  // At the end of the stream: the unterminated last line, if any. False when on_line stopped.
  bool Finish(const OnLine& on_line);

 private:
  bool Emit(const OnLine& on_line);

  const size_t max_line_;
  std::string line_;
};

}  // namespace coderun::kube
