// A minimal HTTP/1.1 server for /healthz, /readyz and /metrics: GET only, one request per
// connection, served from one thread. Not for untrusted clients beyond these probes.
#pragma once

#include <atomic>
#include <functional>
#include <map>
#include <string>
#include <thread>

#include "absl/status/status.h"

namespace coderun::app {

struct HttpReply {
  int status = 200;
  std::string content_type = "text/plain; charset=utf-8";
  std::string body;
};

class HttpServer {
 public:
  using Handler = std::function<HttpReply()>;

  // `address` is "host:port" (port 0 picks a free one). Handlers must be added before Start.
  explicit HttpServer(std::string address);
  ~HttpServer();

  void Handle(const std::string& path, Handler handler);
  absl::Status Start();  // binds and starts serving
  void Stop();           // idempotent
  int port() const { return port_; }

 private:
  void Serve();

  std::string address_;
  std::map<std::string, Handler> handlers_;  // read-only after Start()
  int listen_fd_ = -1;
  int port_ = 0;
  std::atomic<bool> stop_{false};
  std::thread thread_;
};

}  // namespace coderun::app
