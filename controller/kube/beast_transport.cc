#include "kube/beast_transport.h"

#include <mutex>
#include <optional>
#include <string>
#include <utility>
#include <vector>

#include "absl/strings/match.h"
#include "absl/strings/str_cat.h"
#include "boost/beast/http.hpp"
#include "common/status_macros.h"
#include "kube/beast_connection.h"
#include "kube/beast_websocket.h"
#include "kube/lines.h"
#include "kube/pem.h"

namespace coderun::kube {
namespace {

using beast_internal::CallBound;
using beast_internal::Connection;
using beast_internal::Endpoint;
namespace beast = boost::beast;
namespace http = beast::http;
namespace ssl = boost::asio::ssl;

constexpr size_t kMaxIdleConnections = 32;
constexpr size_t kMaxHeaderBytes = 1 << 20;
constexpr size_t kStreamChunkBytes = 64 << 10;

bool Idempotent(const std::string& method) {
  return method == "GET" || method == "HEAD" || method == "PUT" || method == "DELETE";
}

class BeastTransport final : public Transport {
 public:
  BeastTransport(Endpoint endpoint, const TlsMaterial& tls)
      : endpoint_(std::move(endpoint)), tls_(ssl::context::tls_client) {
    ConfigureClientContext(tls, tls_.native_handle());
    SSL_CTX_set_mode(tls_.native_handle(), SSL_MODE_RELEASE_BUFFERS);
  }

  absl::StatusOr<HttpResponse> Do(const Context& ctx, const HttpRequest& request) override {
    const std::string what = absl::StrCat(request.method, " ", request.path_and_query);
    if (absl::Status st = ctx.Err(); !st.ok()) {
      return absl::Status(st.code(), absl::StrCat(what, ": ", st.message()));
    }
    const http::request<http::string_body> message = ToMessage(request);
    for (int attempt = 0;; ++attempt) {
      std::unique_ptr<Connection> conn = TakeIdle();
      const bool reused = conn != nullptr;
      if (!reused) conn = std::make_unique<Connection>(tls_);
      bool answered = false;  // any byte of the response arrived
      absl::StatusOr<HttpResponse> response = Exchange(ctx, conn, reused, message, what, answered);
      if (response.ok() || answered || !reused || attempt > 0 || !Idempotent(request.method) ||
          ctx.Err() != absl::OkStatus() || !absl::IsUnavailable(response.status())) {
        return response;
      }
      // The server closed a kept-alive connection as the request went out: once more, anew.
    }
  }

  absl::StatusOr<HttpResponse> Stream(
      const Context& ctx, const HttpRequest& request,
      const std::function<bool(std::string_view line)>& on_line) override {
    const std::string what = absl::StrCat(request.method, " ", request.path_and_query);
    if (absl::Status st = ctx.Err(); !st.ok()) {
      return absl::Status(st.code(), absl::StrCat(what, ": ", st.message()));
    }
    Connection conn(tls_);  // its own, never pooled: a watch holds it for minutes
    CallBound bound(ctx, conn);
    RETURN_IF_ERROR(Open(bound, conn, what));
    http::request<http::string_body> message = ToMessage(request);
    bound.Arm(conn);
    if (beast::error_code ec = conn.Await([&](auto handler) {
          http::async_write(conn.stream(), message, std::move(handler));
        })) {
      return bound.Failure(what, "sending the request", ec);
    }
    http::response_parser<http::empty_body> head;
    head.header_limit(kMaxHeaderBytes);
    bound.Arm(conn);
    if (beast::error_code ec = conn.Await([&](auto handler) {
          http::async_read_header(conn.stream(), conn.buffer(), head, std::move(handler));
        })) {
      return bound.Failure(what, "reading the response", ec);
    }
    const int status = static_cast<int>(head.get().result_int());
    if (status < 200 || status >= 300) {
      http::response_parser<http::string_body> whole(std::move(head));
      whole.body_limit(kMaxResponseBytes);
      bound.Arm(conn);
      if (beast::error_code ec = conn.Await([&](auto handler) {
            http::async_read(conn.stream(), conn.buffer(), whole, std::move(handler));
          })) {
        return bound.Failure(what, "reading the response", ec);
      }
      return HttpResponse{status, std::move(whole.get().body())};
    }
    http::response_parser<http::buffer_body> body(std::move(head));
    body.body_limit(boost::none);  // a watch is as long as it lasts; lines are bounded
    LineSplitter lines(kMaxStreamLineBytes);
    std::vector<char> chunk(kStreamChunkBytes);
    while (!body.is_done()) {
      body.get().body().data = chunk.data();
      body.get().body().size = chunk.size();
      bound.Arm(conn);
      beast::error_code ec = conn.Await([&](auto handler) {
        http::async_read_some(conn.stream(), conn.buffer(), body, std::move(handler));
      });
      if (ec == http::error::need_buffer) ec = {};  // the chunk is full
      if (ec) return bound.Failure(what, "reading the stream", ec);
      const size_t n = chunk.size() - body.get().body().size;
      absl::StatusOr<bool> more = lines.Feed({chunk.data(), n}, on_line);
      if (!more.ok()) {
        return absl::Status(more.status().code(), absl::StrCat(what, ": ", more.status().message()));
      }
      if (!*more) return HttpResponse{status, ""};
    }
    lines.Finish(on_line);
    return HttpResponse{status, ""};
  }

  absl::StatusOr<UpgradeResponse> Upgrade(const Context& ctx, const HttpRequest& request,
                                          const std::vector<std::string>& subprotocols) override {
    const std::string what = absl::StrCat("upgrade ", request.path_and_query);
    if (absl::Status st = ctx.Err(); !st.ok()) {
      return absl::Status(st.code(), absl::StrCat(what, ": ", st.message()));
    }
    auto conn = std::make_unique<Connection>(tls_);  // its own, never pooled nor given back
    {
      CallBound bound(ctx, *conn);
      RETURN_IF_ERROR(Open(bound, *conn, what));
    }
    return beast_internal::UpgradeToWebSocket(ctx, std::move(conn), endpoint_.host_header,
                                              Target(request), request.headers, subprotocols,
                                              what);
  }

 private:
  http::request<http::string_body> ToMessage(const HttpRequest& request) const {
    http::request<http::string_body> message;
    message.method_string(request.method);
    message.target(Target(request));
    message.version(11);
    message.set(http::field::host, endpoint_.host_header);
    bool content_type = false;
    for (const auto& [name, value] : request.headers) {
      message.set(name, value);
      content_type = content_type || absl::EqualsIgnoreCase(name, "Content-Type");
    }
    if (!request.body.empty()) {
      if (!content_type) message.set(http::field::content_type, "application/json");
      message.body() = request.body;
    }
    message.prepare_payload();
    return message;
  }

  std::string Target(const HttpRequest& request) const {
    return endpoint_.prefix + request.path_and_query;
  }

  absl::Status Open(CallBound& bound, Connection& conn, const std::string& what) {
    return beast_internal::Open(endpoint_, bound, conn, what);
  }

  // One request and its whole response on `conn` (opened first unless `reused`); the
  // connection goes back to the pool when the server keeps it alive.
  absl::StatusOr<HttpResponse> Exchange(const Context& ctx, std::unique_ptr<Connection>& conn,
                                        bool reused, const http::request<http::string_body>& message,
                                        const std::string& what, bool& answered) {
    absl::StatusOr<HttpResponse> result;
    bool keep = false;
    {
      CallBound bound(ctx, *conn);
      result = [&]() -> absl::StatusOr<HttpResponse> {
        if (!reused) RETURN_IF_ERROR(Open(bound, *conn, what));
        bound.Arm(*conn);
        if (beast::error_code ec = conn->Await([&](auto handler) {
              http::async_write(conn->stream(), message, std::move(handler));
            })) {
          return bound.Failure(what, "sending the request", ec);
        }
        http::response_parser<http::string_body> parser;
        parser.header_limit(kMaxHeaderBytes);
        parser.body_limit(kMaxResponseBytes);
        bound.Arm(*conn);
        beast::error_code ec = conn->Await([&](auto handler) {
          http::async_read(conn->stream(), conn->buffer(), parser, std::move(handler));
        });
        answered = parser.got_some();
        if (ec) return bound.Failure(what, "reading the response", ec);
        keep = parser.get().keep_alive();
        return HttpResponse{static_cast<int>(parser.get().result_int()),
                            std::move(parser.get().body())};
      }();
    }  // the cancel callback is unregistered: nothing touches the connection now
    if (result.ok() && keep && !conn->cancelled()) PutIdle(std::move(conn));
    return result;
  }

  std::unique_ptr<Connection> TakeIdle() {
    std::unique_lock<std::mutex> lock(mu_);
    while (!idle_.empty()) {
      std::unique_ptr<Connection> conn = std::move(idle_.back());
      idle_.pop_back();
      lock.unlock();
      if (conn->StillIdle()) return conn;
      conn.reset();  // closed by the server while idle
      lock.lock();
    }
    return nullptr;
  }

  void PutIdle(std::unique_ptr<Connection> conn) {
    std::lock_guard<std::mutex> lock(mu_);
    if (idle_.size() < kMaxIdleConnections) idle_.push_back(std::move(conn));
  }

  const Endpoint endpoint_;
  ssl::context tls_;  // shared by every connection (SSL_CTX is thread-safe once configured)
  std::mutex mu_;
  std::vector<std::unique_ptr<Connection>> idle_;  // guarded by mu_
};

}  // namespace

absl::StatusOr<std::unique_ptr<Transport>> NewBeastTransport(const RestConfig& config) {
  if (config.insecure) {
    return absl::InvalidArgumentError("insecure TLS is not supported: TLS is always verified");
  }
  ASSIGN_OR_RETURN(Endpoint endpoint, beast_internal::ParseServer(config.server));
  ASSIGN_OR_RETURN(TlsMaterial tls,
                   ParseTlsMaterial(config.ca_pem, config.client_cert_pem, config.client_key_pem));
  return std::unique_ptr<Transport>(std::make_unique<BeastTransport>(std::move(endpoint), tls));
}

}  // namespace coderun::kube
