#include "kube/token_transport.h"

#include <optional>
#include <string>
#include <utility>
#include <vector>

#include "absl/strings/str_cat.h"

namespace coderun::kube {
namespace {

class TokenTransport final : public Transport {
 public:
  TokenTransport(std::unique_ptr<Transport> inner, std::shared_ptr<TokenSource> tokens)
      : inner_(std::move(inner)), tokens_(std::move(tokens)) {}

  absl::StatusOr<HttpResponse> Do(const Context& ctx, const HttpRequest& request) override {
    return WithRetry(request, [&](const HttpRequest& r) { return inner_->Do(ctx, r); });
  }

  absl::StatusOr<HttpResponse> Stream(
      const Context& ctx, const HttpRequest& request,
      const std::function<bool(std::string_view line)>& on_line) override {
    return WithRetry(request, [&](const HttpRequest& r) { return inner_->Stream(ctx, r, on_line); });
  }

  absl::StatusOr<UpgradeResponse> Upgrade(const Context& ctx, const HttpRequest& request,
                                          const std::vector<std::string>& subprotocols) override {
    return WithRetry(request,
                     [&](const HttpRequest& r) { return inner_->Upgrade(ctx, r, subprotocols); });
  }

 private:
  // Send returns absl::StatusOr of HttpResponse or UpgradeResponse (both have `status`).
  template <typename Send>
  auto WithRetry(const HttpRequest& request, const Send& send) -> decltype(send(request)) {
    if (request.headers.contains("Authorization")) return send(request);
    const std::string token = tokens_->Get();
    decltype(send(request)) response = send(Authorized(request, token));
    if (response.ok() && response->status == 401) {
      if (std::optional<std::string> fresh = tokens_->Refresh(token)) {
        return send(Authorized(request, *fresh));
      }
    }
    return response;
  }

  static HttpRequest Authorized(HttpRequest request, const std::string& token) {
    if (!token.empty()) request.headers["Authorization"] = absl::StrCat("Bearer ", token);
    return request;
  }

  const std::unique_ptr<Transport> inner_;
  const std::shared_ptr<TokenSource> tokens_;
};

}  // namespace

std::unique_ptr<Transport> WithBearerToken(std::unique_ptr<Transport> inner,
                                           std::shared_ptr<TokenSource> tokens) {
  return std::make_unique<TokenTransport>(std::move(inner), std::move(tokens));
}

}  // namespace coderun::kube
