#include "kube/beast_transport.h"

#include <poll.h>

#include <openssl/ssl.h>
#include <openssl/x509v3.h>

#include <algorithm>
#include <atomic>
#include <mutex>
#include <optional>
#include <string>
#include <utility>
#include <vector>

#include "absl/strings/match.h"
#include "absl/strings/numbers.h"
#include "absl/strings/str_cat.h"
#include "boost/asio/connect.hpp"
#include "boost/asio/io_context.hpp"
#include "boost/asio/ip/tcp.hpp"
#include "boost/asio/post.hpp"
#include "boost/asio/ssl.hpp"
#include "boost/beast/core.hpp"
#include "boost/beast/http.hpp"
#include "boost/beast/ssl.hpp"
#include "common/status_macros.h"
#include "kube/lines.h"
#include "kube/pem.h"

namespace coderun::kube {
namespace {

namespace asio = boost::asio;
namespace beast = boost::beast;
namespace http = beast::http;
namespace ssl = asio::ssl;
using tcp = asio::ip::tcp;
using Clock = std::chrono::steady_clock;

constexpr size_t kMaxIdleConnections = 32;
constexpr size_t kMaxHeaderBytes = 1 << 20;
constexpr size_t kStreamChunkBytes = 64 << 10;

// Where "https://host[:port][/prefix]" points.
struct Endpoint {
  std::string host;    // without brackets for an IPv6 literal
  std::string port;    // "443" when the URL has none
  std::string host_header;
  std::string prefix;  // "" or "/prefix" (no trailing slash)
  bool is_ip = false;
};

absl::StatusOr<Endpoint> ParseServer(const std::string& server) {
  auto invalid = [&](const char* why) {
    return absl::InvalidArgumentError(absl::StrCat("server \"", server, "\": ", why));
  };
  const std::string scheme = "https://";
  if (server.compare(0, scheme.size(), scheme) != 0) {
    return invalid("not https:// (TLS is required)");
  }
  const std::string rest = server.substr(scheme.size());
  Endpoint e;
  const size_t slash = rest.find('/');
  const std::string authority = rest.substr(0, slash);
  if (slash != std::string::npos) {
    std::string prefix = rest.substr(slash);
    while (!prefix.empty() && prefix.back() == '/') prefix.pop_back();
    if (prefix.find_first_of("?#") != std::string::npos) {
      return invalid("a query or fragment in the server URL");
    }
    e.prefix = prefix;
  }
  if (authority.empty() || authority.find('@') != std::string::npos) return invalid("no host");
  e.host_header = authority;
  std::string host = authority, port;
  if (host.front() == '[') {
    const size_t close = host.find(']');
    if (close == std::string::npos) return invalid("unterminated IPv6 address");
    const std::string after = host.substr(close + 1);
    host = host.substr(1, close - 1);
    if (!after.empty() && after.front() != ':') return invalid("bad port");
    if (!after.empty()) port = after.substr(1);
  } else if (const size_t colon = host.rfind(':'); colon != std::string::npos) {
    port = host.substr(colon + 1);
    host = host.substr(0, colon);
  }
  int port_number = 443;
  if (!port.empty() && (!absl::SimpleAtoi(port, &port_number) || port_number <= 0 ||
                        port_number > 65535)) {
    return invalid("bad port");
  }
  if (host.empty()) return invalid("no host");
  e.host = host;
  e.port = std::to_string(port_number);
  boost::system::error_code ec;
  asio::ip::make_address(e.host, ec);
  e.is_ip = !ec;
  return e;
}

// One TLS connection with its own event loop, used by one thread at a time: the calling
// thread runs the loop for the length of each operation.
class Connection {
 public:
  Connection(ssl::context& tls) : stream_(ioc_, tls) {}

  beast::ssl_stream<beast::tcp_stream>& stream() { return stream_; }
  beast::tcp_stream& tcp() { return beast::get_lowest_layer(stream_); }
  beast::flat_buffer& buffer() { return buffer_; }

  // Starts an asynchronous operation with `start(handler)` and runs the loop until it has
  // completed; its error.
  template <typename Start>
  beast::error_code Await(Start&& start) {
    beast::error_code result;
    start([&result](beast::error_code ec, auto&&...) { result = ec; });
    ioc_.restart();
    ioc_.run();
    return result;
  }

  // Safe from any thread: fails the operation in progress (or the next one to start) with
  // operation_aborted. The connection must not be reused afterwards.
  void Cancel() {
    cancelled_ = true;
    asio::post(ioc_, [this] { tcp().cancel(); });
  }
  bool cancelled() const { return cancelled_; }

  // An idle connection the server has closed (or sent something on) is readable.
  bool StillIdle() {
    if (!tcp().socket().is_open() || buffer_.size() != 0) return false;
    pollfd p{tcp().socket().native_handle(), POLLIN, 0};
    return ::poll(&p, 1, 0) == 0;
  }

 private:
  asio::io_context ioc_{1};  // declared first: outlives the stream and pending handlers
  beast::ssl_stream<beast::tcp_stream> stream_;
  beast::flat_buffer buffer_;
  std::atomic<bool> cancelled_{false};
};

// What one call is allowed: the context's deadline (or the idle timeout, renewed before each
// wait), and its cancellation, which aborts whatever the connection is waiting for.
class CallBound {
 public:
  CallBound(const Context& ctx, Connection& conn) : ctx_(ctx) {
    registration_ = ctx.OnCancel([&conn] { conn.Cancel(); });
  }
  // Arms the connection's timer for the next wait.
  void Arm(Connection& conn) {
    if (std::optional<Deadline> d = ctx_.deadline()) {
      conn.tcp().expires_at(std::min(*d, Clock::now() + kTransportIdleTimeout));
    } else {
      conn.tcp().expires_after(kTransportIdleTimeout);
    }
  }
  // Why an operation failed with `ec`: our deadline, our cancellation, or the network.
  absl::Status Failure(const std::string& what, const std::string& step,
                       beast::error_code ec) const {
    if (ctx_.cancelled()) return absl::CancelledError(absl::StrCat(what, ": cancelled"));
    if (ec == beast::error::timeout) {
      if (std::optional<Deadline> d = ctx_.deadline(); d && Clock::now() >= *d) {
        return absl::DeadlineExceededError(absl::StrCat(what, ": deadline exceeded"));
      }
      return absl::DeadlineExceededError(absl::StrCat(
          what, ": ", step, ": no data for ", kTransportIdleTimeout.count(), " s"));
    }
    std::string message = absl::StrCat(what, ": ", step, ": ", ec.message());
    if (step == "TLS handshake") {
      const long result = ssl_ != nullptr ? SSL_get_verify_result(ssl_) : X509_V_OK;  // NOLINT
      if (result != X509_V_OK) {
        absl::StrAppend(&message, " (server certificate: ", X509_verify_cert_error_string(result),
                        ")");
      } else {
        absl::StrAppend(&message, " (server certificate not valid for the host, or client "
                                  "certificate refused)");
      }
    }
    return absl::UnavailableError(message);
  }
  void set_ssl(SSL* ssl) { ssl_ = ssl; }

 private:
  const Context& ctx_;
  CancelRegistration registration_;
  SSL* ssl_ = nullptr;
};

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

 private:
  http::request<http::string_body> ToMessage(const HttpRequest& request) const {
    http::request<http::string_body> message;
    message.method_string(request.method);
    message.target(endpoint_.prefix.empty() ? request.path_and_query
                                            : endpoint_.prefix + request.path_and_query);
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

  // Connects `conn` and completes the TLS handshake, checking the server's name or address.
  absl::Status Open(CallBound& bound, Connection& conn, const std::string& what) {
    boost::system::error_code ec;
    std::vector<tcp::endpoint> addresses;
    if (endpoint_.is_ip) {
      addresses.emplace_back(asio::ip::make_address(endpoint_.host),
                             static_cast<uint16_t>(std::stoi(endpoint_.port)));
    } else {
      // Blocking, outside the deadline: getaddrinfo cannot be bounded here. In a cluster the
      // server is the service's IP address (kubeconfig.cc), so this is a kubeconfig's name.
      tcp::resolver resolver(conn.stream().get_executor());
      for (const auto& entry : resolver.resolve(endpoint_.host, endpoint_.port, ec)) {
        addresses.push_back(entry.endpoint());
      }
      if (ec) {
        return absl::UnavailableError(
            absl::StrCat(what, ": resolving ", endpoint_.host, ": ", ec.message()));
      }
    }
    bound.Arm(conn);
    if ((ec = conn.Await([&](auto handler) {
           conn.tcp().async_connect(addresses, std::move(handler));
         }))) {
      return bound.Failure(what, absl::StrCat("connecting to ", endpoint_.host_header), ec);
    }
    conn.tcp().socket().set_option(tcp::no_delay(true), ec);
    SSL* ssl = conn.stream().native_handle();
    X509_VERIFY_PARAM* param = SSL_get0_param(ssl);
    X509_VERIFY_PARAM_set_hostflags(param, X509_CHECK_FLAG_NO_PARTIAL_WILDCARDS);
    if (endpoint_.is_ip) {
      X509_VERIFY_PARAM_set1_ip_asc(param, endpoint_.host.c_str());
    } else {
      X509_VERIFY_PARAM_set1_host(param, endpoint_.host.c_str(), 0);
      SSL_set_tlsext_host_name(ssl, endpoint_.host.c_str());
    }
    bound.set_ssl(ssl);
    bound.Arm(conn);
    if ((ec = conn.Await([&](auto handler) {
           conn.stream().async_handshake(ssl::stream_base::client, std::move(handler));
         }))) {
      return bound.Failure(what, "TLS handshake", ec);
    }
    bound.set_ssl(nullptr);
    return absl::OkStatus();
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
  ASSIGN_OR_RETURN(Endpoint endpoint, ParseServer(config.server));
  ASSIGN_OR_RETURN(TlsMaterial tls,
                   ParseTlsMaterial(config.ca_pem, config.client_cert_pem, config.client_key_pem));
  return std::unique_ptr<Transport>(std::make_unique<BeastTransport>(std::move(endpoint), tls));
}

}  // namespace coderun::kube
