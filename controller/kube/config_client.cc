#include "kube/config_client.h"

#include <utility>

#include "common/status_macros.h"
#include "kube/beast_transport.h"
#include "kube/cpprest_transport.h"
#include "kube/token_transport.h"

namespace coderun::kube {

std::optional<HttpLibrary> ParseHttpLibrary(std::string_view name) {
  if (name == "beast") return HttpLibrary::kBeast;
  if (name == "cpprestsdk") return HttpLibrary::kCpprestsdk;
  return std::nullopt;
}

absl::StatusOr<std::unique_ptr<Transport>> NewTransportForConfig(const RestConfig& config,
                                                                 const TransportOptions& options) {
  ASSIGN_OR_RETURN(std::unique_ptr<Transport> transport,
                   options.library == HttpLibrary::kBeast ? NewBeastTransport(config)
                                                          : NewCpprestTransport(config));
  if (config.bearer_token.empty() && config.token_file.empty()) return transport;
  auto tokens = std::make_shared<TokenSource>(config.bearer_token, config.token_file, RealClock(),
                                              options.token_check_interval);
  return WithBearerToken(std::move(transport), std::move(tokens));
}

}  // namespace coderun::kube
