// WebSockets for the Beast transport (Transport::Upgrade): Boost.Beast's websocket::stream
// over the transport's TLS connection. Internal to beast_transport.cc.
#pragma once

#include <map>
#include <memory>
#include <string>
#include <vector>

#include "absl/status/statusor.h"
#include "common/context.h"
#include "kube/beast_connection.h"
#include "kube/transport.h"

namespace coderun::kube::beast_internal {

// Sends the upgrade request for `target` (headers `headers` added to the upgrade's own,
// `subprotocols` offered in that order) on `conn`, which is open (TLS handshake done) and
// used by nothing else. A server that selects a subprotocol that was not offered fails the
// handshake (Unavailable), as RFC 6455 requires of a client.
absl::StatusOr<UpgradeResponse> UpgradeToWebSocket(
    const Context& ctx, std::unique_ptr<Connection> conn, const std::string& host,
    const std::string& target, const std::map<std::string, std::string>& headers,
    const std::vector<std::string>& subprotocols, const std::string& what);

}  // namespace coderun::kube::beast_internal
