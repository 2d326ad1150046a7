// The default Transport: HTTP/1.1 over TLS with Boost.Beast and OpenSSL, run on the calling
// thread. A request takes an idle keep-alive connection from a small pool (or opens one),
// writes, reads the whole response and puts the connection back; no other thread touches
// it, so a request costs its syscalls and its parsing, with no hand-offs between threads
// (cpprest_transport.h, the alternative, hands every request and continuation between the
// threads of its pool). TLS is always verified against the configured CA (or the system's
// CAs when none is configured), the server's name or IP address checked, the configuration's
// client certificate presented. The bearer token is not its business (token_transport.h).
#pragma once

#include <memory>

#include "absl/status/statusor.h"
#include "kube/kubeconfig.h"
#include "kube/transport.h"

namespace coderun::kube {

// Largest response body Do() accepts (a list of every CodeRun and Pod of a big cluster fits).
inline constexpr size_t kMaxResponseBytes = size_t{1} << 30;

// How long a call without a deadline waits for the server's next bytes (as cpprestsdk's
// receive timeout did): Client calls all have deadlines; a watch's server ends it sooner.
inline constexpr std::chrono::seconds kTransportIdleTimeout{600};

// InvalidArgument when the configuration is unusable (not https, insecure, bad PEM, a
// malformed server URL). Each Stream() and each Upgrade() gets its own connection, so a long
// watch or WebSocket never holds up other requests. A deadline or cancellation closes the
// request's connection. A pooled connection the server has closed is noticed before it is
// used; a GET, PUT or DELETE whose reused connection breaks before any answer is sent again
// once on a new one.
absl::StatusOr<std::unique_ptr<Transport>> NewBeastTransport(const RestConfig& config);

}  // namespace coderun::kube
