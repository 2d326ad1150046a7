// The one seam between the Kubernetes client and an HTTP library.
// Production: cpprestsdk (cpprest_transport.h). Unit tests: a fake.
#pragma once

#include <chrono>
#include <functional>
#include <map>
#include <string>
#include <string_view>

#include "absl/status/statusor.h"

namespace coderun::kube {

struct HttpRequest {
  std::string method;                       // GET, POST, PUT, PATCH, DELETE
  std::string path_and_query;               // "/api/v1/namespaces/x/pods?limit=100"
  std::map<std::string, std::string> headers;
  std::string body;
  std::chrono::seconds timeout{30};  // per receive; watches set it above their timeoutSeconds
};

struct HttpResponse {
  int status = 0;
  std::string body;
};

class Transport {
 public:
  virtual ~Transport() = default;

  // Sends one request and returns the whole response. A non-OK Status means no HTTP response
  // was received (connection refused, TLS failure, timeout): kUnavailable or
  // kDeadlineExceeded. Any HTTP status, 4xx and 5xx included, is a value. Thread-safe.
  virtual absl::StatusOr<HttpResponse> Do(const HttpRequest& request) = 0;

  // Sends one request whose response body is a stream (a watch, a followed Pod log). When
  // the status is 2xx, `on_data` is called with the body's bytes as they arrive, in pieces
  // of any size (a piece may end mid-line; callers that want lines split them); returning
  // false stops reading. For a non-2xx status the body is returned whole in the response and
  // `on_data` is not called. Returns when the stream ends, the callback stops it, or the
  // connection fails (non-OK Status). Thread-safe; blocking.
  virtual absl::StatusOr<HttpResponse> Stream(
      const HttpRequest& request, const std::function<bool(std::string_view data)>& on_data) = 0;
};

}  // namespace coderun::kube
