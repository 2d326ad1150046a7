// The HTTP/1.1 server for /healthz, /readyz and /metrics (Boost.Beast on Boost.Asio).
//
// Connections are served asynchronously by a fixed number of threads, so an idle or slow
// client holds no thread: however many connections wait, a probe is answered at once. Each
// request must arrive, and each reply be taken, within `io_timeout`; connections beyond
// `max_connections` are closed on accept. GET only; keep-alive as the client asks.
#pragma once

#include <chrono>
#include <functional>
#include <map>
#include <memory>
#include <string>

#include "absl/status/status.h"

namespace coderun::app {

struct HttpReply {
  int status = 200;
  std::string content_type = "text/plain; charset=utf-8";
  std::string body;
};

struct HttpServerOptions {
  int threads = 2;
  size_t max_connections = 128;
  std::chrono::milliseconds io_timeout = std::chrono::seconds(10);
};

class HttpServer {
 public:
  // Called on a server thread, possibly on several at once.
  using Handler = std::function<HttpReply()>;

  // `address` is "host:port" with an IPv4 literal, "[v6]:port" with an IPv6 literal, or
  // ":port" / "*:port" for all IPv4 addresses; port 0 picks a free one.
  explicit HttpServer(std::string address, HttpServerOptions options = {});
  ~HttpServer();

  // Handlers must be added before Start.
  void Handle(const std::string& path, Handler handler);
  // Binds and starts serving. InvalidArgument for a malformed address, Unavailable if it
  // cannot be bound.
  absl::Status Start();
  // Stops accepting, closes every connection and joins the threads. Idempotent.
  void Stop();
  int port() const { return port_; }

 private:
  struct Impl;

  const std::string address_;
  const HttpServerOptions options_;
  std::map<std::string, Handler> handlers_;  // read-only after Start()
  int port_ = 0;
  std::unique_ptr<Impl> impl_;  // set by Start(), reset by Stop()
};

}  // namespace coderun::app
