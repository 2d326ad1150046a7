// Kubernetes resource quantities ("1", "500m", "256Mi", "1.5G", "2e3").
#pragma once

#include <cstdint>
#include <string>
#include <string_view>

#include "absl/status/statusor.h"

namespace coderun::reconcile {

// A non-negative quantity in thousandths of its unit (millicores for CPU, milli-bytes for
// memory), so both "250m" CPU and "256Mi" memory are exact. Values fractional below a
// thousandth are rounded up, as Kubernetes does.
struct Quantity {
  std::int64_t milli = 0;

  // Whole units, rounded up ("1500m" -> 2).
  std::int64_t Value() const { return (milli + 999) / 1000; }
  auto operator<=>(const Quantity&) const = default;
};

// Parses the canonical Kubernetes quantity grammar (sign, digits, fraction, one suffix of
// m, k, M, G, T, P, E, Ki..Ei, or an exponent e/E). Negative values and values that do not
// fit are InvalidArgument.
absl::StatusOr<Quantity> ParseQuantity(std::string_view text);

// Canonical-enough text for the API: "1500m", "2", "268435456".
std::string FormatMilli(std::int64_t milli);

}  // namespace coderun::reconcile
