// The process metrics Prometheus' client libraries export under these names (client_golang's
// process collector), read from /proc/self at each scrape: CPU seconds, resident and
// virtual memory, open file descriptors, start time.
#pragma once

#include "absl/status/status.h"
#include "metrics/registry.h"

namespace coderun::metrics {

// Registers process_cpu_seconds_total, process_resident_memory_bytes,
// process_virtual_memory_bytes, process_open_fds and process_start_time_seconds.
absl::Status RegisterProcessMetrics(Registry& registry);

}  // namespace coderun::metrics
