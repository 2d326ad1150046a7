// A Client for a RestConfig (kubeconfig or in-cluster): the transport stack in one place.
//
//   HttpClient (http_client.h: URLs, rate limit, API errors)
//     -> TokenTransport (token_transport.h: bearer token, 401 re-read), when there is a token
//       -> BeastTransport (beast_transport.h: TLS, connections, deadlines), or
//          CpprestTransport (cpprest_transport.h) when asked for
#pragma once

#include <chrono>
#include <memory>
#include <optional>
#include <string_view>

#include "absl/status/statusor.h"
#include "kube/client.h"
#include "kube/http_client.h"
#include "kube/kubeconfig.h"
#include "kube/token_source.h"
#include "kube/transport.h"

namespace coderun::kube {

// The HTTP library under the Transport. Beast is the default: a request runs on the calling
// thread, with none of cpprestsdk's hand-offs between threads (docs/benchmarks.md).
enum class HttpLibrary { kBeast, kCpprestsdk };

// "beast" or "cpprestsdk"; nullopt for anything else.
std::optional<HttpLibrary> ParseHttpLibrary(std::string_view name);

struct TransportOptions {
  HttpLibrary library = HttpLibrary::kBeast;
  // How often config.token_file is checked for a new token (kube/token_source.h).
  std::chrono::nanoseconds token_check_interval = kTokenCheckInterval;
};

// The configured HTTP transport, with the bearer token (a fixed one or a token_file, stat'ed
// at most once per check interval and read only when it changed) when the config has one.
absl::StatusOr<std::unique_ptr<Transport>> NewTransportForConfig(
    const RestConfig& config, const TransportOptions& options = {});

}  // namespace coderun::kube
