// The one seam between the Kubernetes client and an HTTP library.
// Production: cpprestsdk (cpprest_transport.h). Unit tests: a fake.
#pragma once

#include <chrono>
#include <functional>
#include <map>
#include <memory>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "absl/status/statusor.h"
#include "common/context.h"

namespace coderun::kube {

// Longest line Stream() accepts (one watch event); a longer one fails the stream.
inline constexpr size_t kMaxStreamLineBytes = 16 << 20;

struct HttpRequest {
  std::string method;                       // GET, POST, PUT, PATCH, DELETE
  std::string path_and_query;               // "/api/v1/namespaces/x/pods?limit=100"
  std::map<std::string, std::string> headers;
  std::string body;
};

struct HttpResponse {
  int status = 0;
  std::string body;
};

// One client side of a WebSocket (RFC 6455) opened by Transport::Upgrade. Each call is bounded
// by its Context as Transport's calls are; after any failure the WebSocket is unusable.
// Destroying it drops the connection without a closing handshake. Not thread-safe: one caller.
class WebSocket {
 public:
  virtual ~WebSocket() = default;

  // The subprotocol the server selected (its Sec-WebSocket-Protocol), "" when it named none.
  virtual const std::string& subprotocol() const = 0;
  // Sends `message` as one binary message.
  virtual absl::Status Send(const Context& ctx, std::string_view message) = 0;
  // The next data message (binary or text); nullopt once the server has closed the WebSocket
  // (its close frame was received and answered). Pings are answered on the way.
  virtual absl::StatusOr<std::optional<std::string>> Receive(const Context& ctx) = 0;
  // The closing handshake: sends a close frame (1000, normal closure), skips data until the
  // server's close frame and closes the connection. OK when the handshake is complete,
  // whichever side started it (after Receive returned nullopt there is nothing left to do).
  virtual absl::Status Close(const Context& ctx) = 0;
};

// The answer to an upgrade request.
struct UpgradeResponse {
  int status = 0;                     // 101 when upgraded
  std::string body;                   // a refusal's body (the apiserver's Status)
  std::unique_ptr<WebSocket> socket;  // set when status is 101
};

// Implementations: cpprest_transport.h (the HTTP library), token_transport.h (a decorator
// adding the bearer token), testing/fake_transport.h. Replacing the HTTP library means one new
// file like cpprest_transport.cc and one changed line in config_client.cc.
//
// Every call is bounded by its Context: it returns DeadlineExceeded at the context's deadline
// and Cancelled soon after the context is cancelled, whatever the server does (a server that
// accepts a connection and never answers included). Without a deadline only the library's
// idle timeout bounds a call; kube::Client always sets one.
class Transport {
 public:
  virtual ~Transport() = default;

  // Sends one request and returns the whole response. A non-OK Status means no HTTP response
  // was received (connection refused, TLS failure, deadline, cancellation): kUnavailable,
  // kDeadlineExceeded or kCancelled. Any HTTP status, 4xx and 5xx included, is a value.
  // Thread-safe.
  virtual absl::StatusOr<HttpResponse> Do(const Context& ctx, const HttpRequest& request) = 0;

  // Sends one request whose response body is a stream of newline-delimited records (a
  // watch). When the status is 2xx, `on_line` is called for each line as it arrives;
  // returning false stops reading. For a non-2xx status the body is returned whole in the
  // response and `on_line` is not called. Returns when the stream ends, the callback stops
  // it, or the connection fails (non-OK Status). Thread-safe; blocking.
  // Cancelling `ctx` ends a stream that is waiting for the next line.
  virtual absl::StatusOr<HttpResponse> Stream(
      const Context& ctx, const HttpRequest& request,
      const std::function<bool(std::string_view line)>& on_line) = 0;

  // Opens a WebSocket with `request` (a GET; its headers go with the upgrade's own) on a
  // connection of its own, offering `subprotocols` in order of preference. As with Do(), a
  // refused upgrade (any status but 101) is a value, and a non-OK Status means no usable
  // answer: kUnavailable (including a malformed handshake), kDeadlineExceeded, kCancelled,
  // or kUnimplemented from a transport that has no WebSockets. Thread-safe.
  virtual absl::StatusOr<UpgradeResponse> Upgrade(const Context& ctx, const HttpRequest& request,
                                                  const std::vector<std::string>& subprotocols) = 0;
};

}  // namespace coderun::kube
