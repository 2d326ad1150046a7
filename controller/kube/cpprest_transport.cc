#include "kube/cpprest_transport.h"

#include <openssl/ssl.h>

#include <algorithm>
#include <exception>
#include <map>
#include <mutex>
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
#include "cpprest/http_client.h"
#include "kube/pem.h"
#include "kube/token_source.h"

namespace coderun::kube {
namespace {

namespace http = web::http;
using ByteBuf = concurrency::streams::streambuf<uint8_t>;

// `tls` is parsed once and loaded into every new TLS context (one per connection) by
// cpprestsdk; no CA means the system's default verify paths.
void ConfigureSslContext(const TlsMaterial& tls, boost::asio::ssl::context& context) {
  SSL_CTX* ctx = context.native_handle();
  SSL_CTX_set_min_proto_version(ctx, TLS1_2_VERSION);
  if (!tls.ca.empty()) {
    // Trust exactly the configured CAs: replace the default store cpprestsdk loaded.
    X509_STORE* store = X509_STORE_new();
    for (const X509Ptr& ca : tls.ca) X509_STORE_add_cert(store, ca.get());  // takes a ref
    SSL_CTX_set_cert_store(ctx, store);  // frees the old store, owns the new one
  }
  if (!tls.cert_chain.empty()) {
    SSL_CTX_use_certificate(ctx, tls.cert_chain.front().get());  // takes a ref
    for (size_t i = 1; i < tls.cert_chain.size(); ++i) {
      X509_up_ref(tls.cert_chain[i].get());
      SSL_CTX_add_extra_chain_cert(ctx, tls.cert_chain[i].get());  // owns that ref
    }
    SSL_CTX_use_PrivateKey(ctx, tls.key.get());  // takes a ref
  }
  // cpprestsdk also sets verify_peer and an RFC 2818 host name check on each stream.
  SSL_CTX_set_verify(ctx, SSL_VERIFY_PEER, nullptr);
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
  CpprestTransport(std::string server, std::shared_ptr<const TlsMaterial> tls,
                   std::string token, std::string token_file,
                   std::chrono::nanoseconds token_check_interval)
      : server_(std::move(server)),
        tls_(std::move(tls)),
        token_(std::move(token), std::move(token_file), RealClock(), token_check_interval) {}

  // Builds a client now so that a malformed server URL fails at construction.
  absl::Status Init() {
    try {
      (void)NewHttpClient(std::chrono::seconds(30));
    } catch (const std::exception& e) {
      return absl::InvalidArgumentError(absl::StrCat("server ", server_, ": ", e.what()));
    }
    return absl::OkStatus();
  }

  // A 401 may mean the token file was rewritten since it was last checked: re-check it and,
  // given a new token, send the request once more.
  absl::StatusOr<HttpResponse> Do(const HttpRequest& request) override {
    const std::string token = token_.Get();
    absl::StatusOr<HttpResponse> response = DoOnce(request, token);
    if (response.ok() && response->status == 401) {
      if (std::optional<std::string> fresh = token_.Refresh(token)) return DoOnce(request, *fresh);
    }
    return response;
  }

  absl::StatusOr<HttpResponse> Stream(
      const HttpRequest& request,
      const std::function<bool(std::string_view line)>& on_line) override {
    const std::string token = token_.Get();
    absl::StatusOr<HttpResponse> response = StreamOnce(request, token, on_line);
    if (response.ok() && response->status == 401) {
      if (std::optional<std::string> fresh = token_.Refresh(token)) {
        return StreamOnce(request, *fresh, on_line);
      }
    }
    return response;
  }

 private:
  absl::StatusOr<HttpResponse> DoOnce(const HttpRequest& request, const std::string& token) {
    const std::string what = absl::StrCat(request.method, " ", request.path_and_query);
    try {
      std::shared_ptr<http::client::http_client> client = SharedClient(request.timeout);
      http::http_request message = ToMessage(request, token);
      http::http_response response = client->request(message).get();
      std::vector<unsigned char> body = response.extract_vector().get();
      return HttpResponse{response.status_code(), std::string(body.begin(), body.end())};
    } catch (const std::exception& e) {
      return FromException(what, e);
    } catch (...) {
      return absl::UnavailableError(absl::StrCat(what, ": unknown error"));
    }
  }

  absl::StatusOr<HttpResponse> StreamOnce(
      const HttpRequest& request, const std::string& token,
      const std::function<bool(std::string_view line)>& on_line) {
    const std::string what = absl::StrCat(request.method, " ", request.path_and_query);
    pplx::cancellation_token_source cancel;
    bool done = false;
    // Whatever way we leave, an unfinished response is aborted (closes its connection).
    struct Canceller {
      pplx::cancellation_token_source& source;
      const bool& done;
      ~Canceller() {
        if (!done) source.cancel();
      }
    } canceller{cancel, done};
    try {
      // Its own client, hence its own connection and receive timeout.
      http::client::http_client client = NewHttpClient(request.timeout);
      http::http_request message = ToMessage(request, token);
      http::http_response response = client.request(message, cancel.get_token()).get();
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
      return FromException(what, e);
    } catch (...) {
      return absl::UnavailableError(absl::StrCat(what, ": unknown error"));
    }
  }

  // Feeds `on_line` each line of `buf` as its bytes arrive. True at the end of the body,
  // false when on_line stopped; ResourceExhausted for a line over kMaxStreamLineBytes.
  // Throws what cpprestsdk throws.
  static absl::StatusOr<bool> ReadLines(ByteBuf buf,
                                        const std::function<bool(std::string_view)>& on_line) {
    std::string line;
    std::vector<uint8_t> chunk(64 << 10);
    auto emit = [&]() {
      std::string_view view(line);
      if (!view.empty() && view.back() == '\r') view.remove_suffix(1);
      bool more = on_line(view);
      line.clear();
      return more;
    };
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
      const char* data = reinterpret_cast<const char*>(chunk.data());
      std::string_view rest(data, n);
      while (!rest.empty()) {
        const size_t newline = rest.find('\n');
        const size_t take = newline == std::string_view::npos ? rest.size() : newline;
        if (line.size() + take > kMaxStreamLineBytes) {
          return absl::ResourceExhaustedError(
              absl::StrCat("stream line longer than ", kMaxStreamLineBytes, " bytes"));
        }
        line.append(rest.substr(0, take));
        if (newline == std::string_view::npos) break;
        rest.remove_prefix(newline + 1);
        if (!emit()) return false;
      }
    }
    if (!line.empty() && !emit()) return false;
    return true;
  }

  http::client::http_client NewHttpClient(std::chrono::seconds timeout) const {
    http::client::http_client_config config;
    config.set_validate_certificates(true);
    config.set_timeout(timeout);
    std::shared_ptr<const TlsMaterial> tls = tls_;
    config.set_ssl_context_callback(
        [tls](boost::asio::ssl::context& context) { ConfigureSslContext(*tls, context); });
    return http::client::http_client(web::uri(server_), config);
  }

  // One pooled client per distinct timeout (in practice one or two).
  std::shared_ptr<http::client::http_client> SharedClient(std::chrono::seconds timeout) {
    std::lock_guard<std::mutex> lock(mu_);
    std::shared_ptr<http::client::http_client>& client = clients_[timeout.count()];
    if (!client) client = std::make_shared<http::client::http_client>(NewHttpClient(timeout));
    return client;
  }

  static http::http_request ToMessage(const HttpRequest& request, const std::string& token) {
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
    if (!token.empty()) message.headers().add("Authorization", absl::StrCat("Bearer ", token));
    return message;
  }

  const std::string server_;
  const std::shared_ptr<const TlsMaterial> tls_;
  TokenSource token_;
  std::mutex mu_;
  // Keyed by timeout in seconds; guarded by mu_.
  std::map<int64_t, std::shared_ptr<http::client::http_client>> clients_;
};

}  // namespace

absl::StatusOr<std::unique_ptr<Transport>> NewCpprestTransport(const RestConfig& config,
                                                               const TransportOptions& options) {
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
  auto transport =
      std::make_unique<CpprestTransport>(config.server, std::move(tls), config.bearer_token,
                                         config.token_file, options.token_check_interval);
  RETURN_IF_ERROR(transport->Init());
  return std::unique_ptr<Transport>(std::move(transport));
}

absl::StatusOr<std::unique_ptr<Client>> NewClientForConfig(const RestConfig& config,
                                                           const ClientOptions& options) {
  ASSIGN_OR_RETURN(std::unique_ptr<Transport> transport, NewCpprestTransport(config));
  return NewClient(std::move(transport), options);
}

}  // namespace coderun::kube
