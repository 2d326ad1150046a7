// The Kubernetes API client over a Transport: builds URLs, encodes queries, applies the
// client-side rate limit, maps non-2xx responses to API errors (errors.h).
#pragma once

#include <functional>
#include <optional>
#include <memory>
#include <string>
#include <string_view>

#include "kube/client.h"
#include "kube/rate_limiter.h"
#include "kube/transport.h"

namespace coderun::kube {

inline constexpr char kUserAgent[] = "coderun-controller";

// Told about every request the client sends, once it is answered: `verb` is one of get,
// list, watch, create, update, patch, delete, log (a Pod log read), attach (a write to a
// container's stdin); `code` is the HTTP status ("200", "404", "101" for an attach that
// went through, ...) or "error" when no response came (connection refused, TLS failure,
// timeout, a watch stream or attach session that broke); `seconds` is how long the request
// took from sending to the whole answer (the rate limiter's wait not included), and empty
// for a watch, whose stream lasts as long as it lasts. Called on the requesting thread; must
// be thread-safe and quick.
using RequestObserver = std::function<void(const std::string& verb, const std::string& code,
                                           std::optional<double> seconds)>;

struct ClientOptions {
  double qps = 50;   // client-side limit on requests per second; <= 0 disables
  int burst = 100;
  RequestObserver on_request;  // may be empty
  // Sent as ?fieldManager= with every create, update and patch: the name the apiserver
  // records in managedFields for what this client wrote. Empty: the apiserver derives one
  // from the User-Agent.
  std::string field_manager;
  // The User-Agent header; empty: kUserAgent.
  std::string user_agent;
};

// A Client whose every request (watch starts included) first waits on `limiter`.
// The transport and the limiter may be shared between clients; the limiter must not be null.
// `on_request` may be empty.
std::unique_ptr<Client> NewClient(std::shared_ptr<Transport> transport,
                                  std::shared_ptr<RateLimiter> limiter,
                                  RequestObserver on_request = nullptr,
                                  std::string field_manager = "",
                                  std::string user_agent = "");

// A Client with its own RateLimiter(options.qps, options.burst).
std::unique_ptr<Client> NewClient(std::shared_ptr<Transport> transport,
                                  const ClientOptions& options = {});

// Percent-encodes everything but RFC 3986 unreserved characters (for query values and
// path segments).
std::string UrlEscape(std::string_view text);

}  // namespace coderun::kube
