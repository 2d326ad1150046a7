// Error-propagation helpers for absl::Status / absl::StatusOr.
#pragma once

#include "absl/status/status.h"
#include "absl/status/statusor.h"

#define CODERUN_CONCAT_INNER(a, b) a##b
#define CODERUN_CONCAT(a, b) CODERUN_CONCAT_INNER(a, b)

// Returns from the enclosing function if `expr` (an absl::Status) is not OK.
#define RETURN_IF_ERROR(expr)                 \
  do {                                        \
    ::absl::Status _status = (expr);          \
    if (!_status.ok()) return _status;        \
  } while (0)

// `ASSIGN_OR_RETURN(auto x, MaybeX());` assigns the value or returns the error.
#define ASSIGN_OR_RETURN(lhs, expr)                                              \
  auto CODERUN_CONCAT(_statusor_, __LINE__) = (expr);                            \
  if (!CODERUN_CONCAT(_statusor_, __LINE__).ok())                                \
    return CODERUN_CONCAT(_statusor_, __LINE__).status();                        \
  lhs = std::move(CODERUN_CONCAT(_statusor_, __LINE__)).value()
