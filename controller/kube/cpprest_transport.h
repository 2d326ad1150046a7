// The production Transport: cpprestsdk's http_client over TLS that is always verified
// against the configured CA (or the system's CAs when none is configured), with the
// configuration's client certificate and bearer token.
#pragma once

#include <chrono>
#include <memory>

#include "absl/status/statusor.h"
#include "kube/client.h"
#include "kube/http_client.h"
#include "kube/kubeconfig.h"
#include "kube/token_source.h"
#include "kube/transport.h"

namespace coderun::kube {

// Longest line Stream() accepts (one watch event); a longer one fails the stream.
inline constexpr size_t kMaxStreamLineBytes = 16 << 20;

struct TransportOptions {
  // How often config.token_file is checked for a new token (kube/token_source.h).
  std::chrono::nanoseconds token_check_interval = kTokenCheckInterval;
};

// InvalidArgument when the configuration is unusable (not https, insecure, bad PEM).
// A token_file (service-account tokens rotate) is stat'ed at most once per check interval and
// read only when it changed; a request answered 401 re-checks it at once and, given a new
// token, is sent once more. Do() requests share a connection pool; each Stream() gets its own
// connection, so a long watch never holds up other requests.
absl::StatusOr<std::unique_ptr<Transport>> NewCpprestTransport(
    const RestConfig& config, const TransportOptions& options = {});

// NewClient(NewCpprestTransport(config), options).
absl::StatusOr<std::unique_ptr<Client>> NewClientForConfig(const RestConfig& config,
                                                           const ClientOptions& options = {});

}  // namespace coderun::kube
