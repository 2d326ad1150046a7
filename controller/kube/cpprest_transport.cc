#include "kube/cpprest_transport.h"

#include <openssl/ssl.h>

#include <algorithm>
#include <atomic>
#include <exception>
#include <optional>
#include <string>
#include <system_error>
#include <utility>
#include <vector>

#include "absl/strings/match.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/strip.h"
#include "common/log.h"
#include "common/status_macros.h"
#include "boost/asio/steady_timer.hpp"
#include "cpprest/http_client.h"
#include "kube/lines.h"
#include "kube/pem.h"
#include "pplx/threadpool.h"

namespace coderun::kube {
namespace {

namespace http = web::http;
using ByteBuf = concurrency::streams::streambuf<uint8_t>;

absl::Status FromException(const std::string& what, const std::exception& e);

// cpprestsdk's receive timeout (per read, not per request). Deadlines are ours: a
// RequestBound closes the connection at the context's deadline.
constexpr std::chrono::seconds kIdleTimeout{600};

// Ties one request to its Context: cancelling the context, or reaching its deadline, cancels
// the cpprestsdk token, which closes the request's connection and fails whatever waits on it
// (connect, TLS handshake, headers, a body read).
class RequestBound {
 public:
  explicit RequestBound(const Context& ctx)
      : state_(std::make_shared<State>()),
        timer_(crossplat::threadpool::shared_instance().service()) {
    if (std::optional<Deadline> deadline = ctx.deadline()) {
      timer_.expires_at(*deadline);
      timer_.async_wait([state = state_](const boost::system::error_code& error) {
        if (error) return;  // the request finished first
        state->timed_out = true;
        state->source.cancel();
      });
    }
    registration_ = ctx.OnCancel([state = state_] { state->source.cancel(); });
  }
  ~RequestBound() { timer_.cancel(); }

  pplx::cancellation_token token() const { return state_->source.get_token(); }
  // Closes the connection (an unfinished response must not be reused).
  void Abort() { state_->source.cancel(); }

  // Why a request failed with `e`: our deadline, our cancellation, or the network.
  absl::Status Failure(const Context& ctx, const std::string& what, const std::exception& e) const {
    if (state_->timed_out) return absl::DeadlineExceededError(absl::StrCat(what, ": deadline exceeded"));
    if (ctx.cancelled()) return absl::CancelledError(absl::StrCat(what, ": cancelled"));
    return FromException(what, e);
  }

 private:
  struct State {  // shared with the timer's handler, which may outlive this object
    pplx::cancellation_token_source source;
    std::atomic<bool> timed_out{false};
  };
  std::shared_ptr<State> state_;
  boost::asio::steady_timer timer_;
  CancelRegistration registration_;
};

// `tls` is parsed once and loaded into every new TLS context (one per connection) by
// cpprestsdk, which also sets verify_peer and an RFC 2818 host name check on each stream.
void ConfigureSslContext(const TlsMaterial& tls, boost::asio::ssl::context& context) {
  ConfigureClientContext(tls, context.native_handle());
}

absl::Status FromException(const std::string& what, const std::exception& e) {
  if (const auto* he = dynamic_cast<const http::http_exception*>(&e)) {
    if (he->error_code() == std::errc::timed_out) {
      return absl::DeadlineExceededError(absl::StrCat(what, ": timed out: ", e.what()));
    }
  }
  std::string message = absl::StrCat(what, ": ", e.what());
  if (absl::StrContains(message, "SSL handshake")) {
    // cpprestsdk does not say why; this is what it almost always is.
    message += " (server certificate not signed by the configured CA or not valid for the "
               "host, or client certificate refused)";
  }
  return absl::UnavailableError(message);
}

class CpprestTransport final : public Transport {
 public:
  CpprestTransport(std::string server, std::shared_ptr<const TlsMaterial> tls)
      : server_(std::move(server)), tls_(std::move(tls)) {}

  // Builds the pooled client now so that a malformed server URL fails at construction.
  absl::Status Init() {
    try {
      pooled_ = std::make_unique<http::client::http_client>(NewHttpClient());
    } catch (const std::exception& e) {
      return absl::InvalidArgumentError(absl::StrCat("server ", server_, ": ", e.what()));
    }
    return absl::OkStatus();
  }

  absl::StatusOr<HttpResponse> Do(const Context& ctx, const HttpRequest& request) override {
    const std::string what = absl::StrCat(request.method, " ", request.path_and_query);
    if (absl::Status st = ctx.Err(); !st.ok()) return absl::Status(st.code(), absl::StrCat(what, ": ", st.message()));
    RequestBound bound(ctx);
    try {
      http::http_response response = pooled_->request(ToMessage(request), bound.token()).get();
      std::vector<unsigned char> body = response.extract_vector().get();
      return HttpResponse{response.status_code(), std::string(body.begin(), body.end())};
    } catch (const std::exception& e) {
      return bound.Failure(ctx, what, e);
    } catch (...) {
      return absl::UnavailableError(absl::StrCat(what, ": unknown error"));
    }
  }

  absl::StatusOr<HttpResponse> Stream(
      const Context& ctx, const HttpRequest& request,
      const std::function<bool(std::string_view line)>& on_line) override {
    const std::string what = absl::StrCat(request.method, " ", request.path_and_query);
    if (absl::Status st = ctx.Err(); !st.ok()) return absl::Status(st.code(), absl::StrCat(what, ": ", st.message()));
    RequestBound bound(ctx);
    bool done = false;
    // Whatever way we leave, an unfinished response is aborted (closes its connection).
    struct Aborter {
      RequestBound& bound;
      const bool& done;
      ~Aborter() {
        if (!done) bound.Abort();
      }
    } aborter{bound, done};
    try {
      // Its own client, hence its own connection.
      http::client::http_client client = NewHttpClient();
      http::http_response response = client.request(ToMessage(request), bound.token()).get();
      HttpResponse result{response.status_code(), ""};
      if (result.status < 200 || result.status >= 300) {
        std::vector<unsigned char> body = response.extract_vector().get();
        result.body.assign(body.begin(), body.end());
        done = true;
        return result;
      }
      absl::StatusOr<bool> finished = ReadLines(response.body().streambuf(), on_line);
      if (!finished.ok()) {
        return absl::Status(finished.status().code(),
                            absl::StrCat(what, ": ", finished.status().message()));
      }
      if (*finished) {
        response.content_ready().get();  // throws if the body ended with an error
        done = true;
      }
      return result;
    } catch (const std::exception& e) {
      return bound.Failure(ctx, what, e);
    } catch (...) {
      return absl::UnavailableError(absl::StrCat(what, ": unknown error"));
    }
  }

  // Unimplemented: cpprestsdk's websocket client (a separate part, on websocketpp) is not
  // wired in; this library is in maintenance mode and Beast, the default, has WebSockets.
  absl::StatusOr<UpgradeResponse> Upgrade(const Context&, const HttpRequest& request,
                                          const std::vector<std::string>&) override {
    return absl::UnimplementedError(absl::StrCat(
        "upgrade ", request.path_and_query, ": WebSockets need the beast HTTP library"));
  }

 private:
  // Feeds `on_line` each line of `buf` as its bytes arrive. True at the end of the body,
  // false when on_line stopped; ResourceExhausted for a line over kMaxStreamLineBytes.
  // Throws what cpprestsdk throws.
  static absl::StatusOr<bool> ReadLines(ByteBuf buf,
                                        const std::function<bool(std::string_view)>& on_line) {
    LineSplitter lines(kMaxStreamLineBytes);
    std::vector<uint8_t> chunk(64 << 10);
    while (true) {
      size_t n = 0;
      const size_t available = buf.in_avail();
      if (available == 0) {
        // Blocks until at least one byte has arrived or the body ended.
        ByteBuf::int_type c = buf.bumpc().get();
        if (c == ByteBuf::traits::eof()) break;
        chunk[0] = static_cast<uint8_t>(c);
        n = 1;
      } else {
        n = buf.getn(chunk.data(), std::min(available, chunk.size())).get();
        if (n == 0) break;
      }
      ASSIGN_OR_RETURN(bool more,
                       lines.Feed({reinterpret_cast<const char*>(chunk.data()), n}, on_line));
      if (!more) return false;
    }
    return lines.Finish(on_line);
  }

  http::client::http_client NewHttpClient() const {
    http::client::http_client_config config;
    config.set_validate_certificates(true);
    config.set_timeout(kIdleTimeout);
    std::shared_ptr<const TlsMaterial> tls = tls_;
    config.set_ssl_context_callback(
        [tls](boost::asio::ssl::context& context) { ConfigureSslContext(*tls, context); });
    return http::client::http_client(web::uri(server_), config);
  }

  static http::http_request ToMessage(const HttpRequest& request) {
    http::http_request message{http::method(request.method)};
    message.set_request_uri(web::uri(request.path_and_query));
    std::string content_type = "application/json";
    for (const auto& [name, value] : request.headers) {
      if (absl::EqualsIgnoreCase(name, "Content-Type")) {
        content_type = value;
      } else {
        message.headers().add(name, value);
      }
    }
    if (!request.body.empty()) message.set_body(request.body, content_type);
    return message;
  }

  const std::string server_;
  const std::shared_ptr<const TlsMaterial> tls_;
  std::unique_ptr<http::client::http_client> pooled_;  // set by Init; thread-safe
};

}  // namespace

absl::StatusOr<std::unique_ptr<Transport>> NewCpprestTransport(const RestConfig& config) {
  if (config.insecure) {
    return absl::InvalidArgumentError("insecure TLS is not supported: TLS is always verified");
  }
  if (!absl::StartsWith(config.server, "https://")) {
    return absl::InvalidArgumentError(
        absl::StrCat("server \"", config.server, "\" is not https:// (TLS is required)"));
  }
  if (absl::StartsWith(config.server, "https://[")) {
    return absl::InvalidArgumentError(absl::StrCat(
        "server ", config.server,
        ": IPv6 address literals are not supported (cpprestsdk cannot resolve them); use a "
        "host name"));
  }
  ASSIGN_OR_RETURN(TlsMaterial parsed,
                   ParseTlsMaterial(config.ca_pem, config.client_cert_pem, config.client_key_pem));
  auto tls = std::make_shared<const TlsMaterial>(std::move(parsed));
  auto transport = std::make_unique<CpprestTransport>(config.server, std::move(tls));
  RETURN_IF_ERROR(transport->Init());
  return std::unique_ptr<Transport>(std::move(transport));
}

}  // namespace coderun::kube
