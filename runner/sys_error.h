// One line for a failed system call: "<what>: <strerror(err)>".
#pragma once

#include <errno.h>
#include <string.h>

#include <string>

namespace coderun::runner {

// `err` defaults to the current errno; pass a saved value when other calls came between.
inline std::string Errno(const std::string& what, int err = errno) {
  return what + ": " + strerror(err);
}

}  // namespace coderun::runner
