// The production Transport: cpprestsdk's http_client over TLS that is always verified
// against the configured CA (or the system's CAs when none is configured), with the
// configuration's client certificate. The bearer token is not its business: config_client.h
// wraps it in token_transport.h. This is the only file that knows cpprestsdk's client.
#pragma once

#include <chrono>
#include <memory>

#include "absl/status/statusor.h"
#include "kube/kubeconfig.h"
#include "kube/transport.h"

namespace coderun::kube {

// InvalidArgument when the configuration is unusable (not https, insecure, bad PEM). Do()
// requests share a connection pool; each Stream() gets its own connection, so a long watch
// never holds up other requests. A deadline or cancellation closes the request's connection.
// Upgrade() (WebSockets) is Unimplemented.
absl::StatusOr<std::unique_ptr<Transport>> NewCpprestTransport(const RestConfig& config);

}  // namespace coderun::kube
