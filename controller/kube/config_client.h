// A Client for a RestConfig (kubeconfig or in-cluster): the transport stack in one place.
//
//   HttpClient (http_client.h: URLs, rate limit, API errors)
//     -> TokenTransport (token_transport.h: bearer token, 401 re-read), when there is a token
//       -> CpprestTransport (cpprest_transport.h: TLS, connections, deadlines)
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

struct TransportOptions {
  // How often config.token_file is checked for a new token (kube/token_source.h).
  std::chrono::nanoseconds token_check_interval = kTokenCheckInterval;
};

// The configured HTTP transport, with the bearer token (a fixed one or a token_file, stat'ed
// at most once per check interval and read only when it changed) when the config has one.
absl::StatusOr<std::unique_ptr<Transport>> NewTransportForConfig(
    const RestConfig& config, const TransportOptions& options = {});

}  // namespace coderun::kube
