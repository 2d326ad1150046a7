#include "kube/beast_connection.h"

#include <poll.h>

#include <openssl/x509v3.h>

#include <algorithm>
#include <vector>

#include "absl/strings/numbers.h"
#include "absl/strings/str_cat.h"
#include "boost/asio/connect.hpp"
#include "boost/asio/ip/tcp.hpp"

namespace coderun::kube::beast_internal {

using tcp = asio::ip::tcp;
using Clock = std::chrono::steady_clock;

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

bool Connection::StillIdle() {
  if (!tcp().socket().is_open() || buffer_.size() != 0) return false;
  pollfd p{tcp().socket().native_handle(), POLLIN, 0};
  return ::poll(&p, 1, 0) == 0;
}

CallBound::CallBound(const Context& ctx, Connection& conn) : ctx_(ctx) {
  registration_ = ctx.OnCancel([&conn] { conn.Cancel(); });
}

void CallBound::Arm(Connection& conn) const {
  if (std::optional<Deadline> d = ctx_.deadline()) {
    conn.tcp().expires_at(std::min(*d, Clock::now() + kTransportIdleTimeout));
  } else {
    conn.tcp().expires_after(kTransportIdleTimeout);
  }
}

absl::Status CallBound::Failure(const std::string& what, const std::string& step,
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

absl::Status Open(const Endpoint& endpoint, CallBound& bound, Connection& conn,
                  const std::string& what) {
  boost::system::error_code ec;
  std::vector<tcp::endpoint> addresses;
  if (endpoint.is_ip) {
    addresses.emplace_back(asio::ip::make_address(endpoint.host),
                           static_cast<uint16_t>(std::stoi(endpoint.port)));
  } else {
    // Blocking, outside the deadline: getaddrinfo cannot be bounded here. In a cluster the
    // server is the service's IP address (kubeconfig.cc), so this is a kubeconfig's name.
    tcp::resolver resolver(conn.stream().get_executor());
    for (const auto& entry : resolver.resolve(endpoint.host, endpoint.port, ec)) {
      addresses.push_back(entry.endpoint());
    }
    if (ec) {
      return absl::UnavailableError(
          absl::StrCat(what, ": resolving ", endpoint.host, ": ", ec.message()));
    }
  }
  bound.Arm(conn);
  if ((ec = conn.Await([&](auto handler) {
         conn.tcp().async_connect(addresses, std::move(handler));
       }))) {
    return bound.Failure(what, absl::StrCat("connecting to ", endpoint.host_header), ec);
  }
  conn.tcp().socket().set_option(tcp::no_delay(true), ec);
  SSL* ssl = conn.stream().native_handle();
  X509_VERIFY_PARAM* param = SSL_get0_param(ssl);
  X509_VERIFY_PARAM_set_hostflags(param, X509_CHECK_FLAG_NO_PARTIAL_WILDCARDS);
  if (endpoint.is_ip) {
    X509_VERIFY_PARAM_set1_ip_asc(param, endpoint.host.c_str());
  } else {
    X509_VERIFY_PARAM_set1_host(param, endpoint.host.c_str(), 0);
    SSL_set_tlsext_host_name(ssl, endpoint.host.c_str());
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

}  // namespace coderun::kube::beast_internal
