// The one seam between the Kubernetes client and an HTTP library.
// Production: cpprestsdk (cpprest_transport.h). Unit tests: a fake.
#pragma once

#include <chrono>
#include <functional>
#include <map>
#include <string>

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

  // Sends one request whose response body is a stream of newline-delimited records (a
  // watch). When the status is 2xx, `on_line` is called for each line as it arrives;
  // returning false stops reading. For a non-2xx status the body is returned whole in the
  // response and `on_line` is not called. Returns when the stream ends, the callback stops
  // it, or the connection fails (non-OK Status). Thread-safe; blocking.
  virtual absl::StatusOr<HttpResponse> Stream(
      const HttpRequest& request, const std::function<bool(std::string_view line)>& on_line) = 0;
};

}  // namespace coderun::kube
