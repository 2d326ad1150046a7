#include "kube/beast_websocket.h"

#include <algorithm>
#include <optional>
#include <utility>

#include "absl/strings/str_cat.h"
#include "absl/strings/str_join.h"
#include "boost/beast/websocket.hpp"
#include "boost/beast/websocket/ssl.hpp"

namespace coderun::kube::beast_internal {
namespace {

namespace websocket = beast::websocket;
namespace http = beast::http;
using Clock = std::chrono::steady_clock;

// Once the server's close frame is in, the rest (our answer, the TLS goodbye) gets this long:
// a server that closed has nothing more to say, and waiting for it must not eat the deadline.
constexpr std::chrono::seconds kCloseGrace{5};

class BeastWebSocket final : public WebSocket {
 public:
  BeastWebSocket(std::unique_ptr<Connection> conn, std::string what)
      : conn_(std::move(conn)), ws_(conn_->stream()), what_(std::move(what)) {
    // CallBound's deadline bounds every step, as for HTTP requests.
    ws_.set_option(websocket::stream_base::timeout{websocket::stream_base::none(),
                                                   websocket::stream_base::none(), false});
    ws_.binary(true);
    ws_.auto_fragment(false);  // one frame per message, as client-go sends them
    ws_.read_message_max(kMaxStreamLineBytes);
    ws_.control_callback([this](websocket::frame_type kind, beast::string_view) {
      if (kind == websocket::frame_type::close) OnServerClose();
    });
  }

  absl::StatusOr<UpgradeResponse> Handshake(const Context& ctx, const std::string& host,
                                            const std::string& target,
                                            const std::map<std::string, std::string>& headers,
                                            const std::vector<std::string>& subprotocols) {
    ws_.set_option(websocket::stream_base::decorator(
        [headers, offer = absl::StrJoin(subprotocols, ", ")](websocket::request_type& request) {
          for (const auto& [name, value] : headers) request.set(name, value);
          if (!offer.empty()) request.set(http::field::sec_websocket_protocol, offer);
        }));
    websocket::response_type response;
    CallBound bound(ctx, *conn_);
    bound.Arm(*conn_);
    beast::error_code ec = conn_->Await([&](auto handler) {
      ws_.async_handshake(response, host, target, std::move(handler));
    });
    if (ec == websocket::error::upgrade_declined) {
      return UpgradeResponse{static_cast<int>(response.result_int()), std::move(response.body()),
                             nullptr};
    }
    if (ec) return bound.Failure(what_, "WebSocket handshake", ec);
    subprotocol_ = std::string(response[http::field::sec_websocket_protocol]);
    if (!subprotocol_.empty() &&
        std::find(subprotocols.begin(), subprotocols.end(), subprotocol_) == subprotocols.end()) {
      return absl::UnavailableError(absl::StrCat(what_, ": the server selected subprotocol \"",
                                                 subprotocol_, "\", which was not offered"));
    }
    return UpgradeResponse{101, "", nullptr};
  }

  const std::string& subprotocol() const override { return subprotocol_; }

  absl::Status Send(const Context& ctx, std::string_view message) override {
    if (ServerClosed()) {
      return absl::FailedPreconditionError(
          absl::StrCat(what_, ": the server closed the WebSocket"));
    }
    CallBound bound = Start(ctx);
    beast::error_code ec = conn_->Await([&](auto handler) {
      ws_.async_write(boost::asio::buffer(message.data(), message.size()),
                      std::move(handler));
    });
    if (ec) return bound.Failure(what_, "sending a message", ec);
    return absl::OkStatus();
  }

  absl::StatusOr<std::optional<std::string>> Receive(const Context& ctx) override {
    if (ServerClosed()) return std::nullopt;
    CallBound bound = Start(ctx);
    beast::flat_buffer buffer;
    beast::error_code ec = conn_->Await([&](auto handler) {
      ws_.async_read(buffer, std::move(handler));
    });
    // After the server's close frame, a failure of our answer or of the TLS goodbye changes
    // nothing: the server has said all it will.
    if (ServerClosed()) return std::nullopt;
    if (ec) return bound.Failure(what_, "receiving a message", ec);
    return beast::buffers_to_string(buffer.data());
  }

  absl::Status Close(const Context& ctx) override {
    if (ServerClosed()) return absl::OkStatus();
    CallBound bound = Start(ctx);
    beast::error_code ec = conn_->Await([&](auto handler) {
      ws_.async_close(websocket::close_code::normal, std::move(handler));
    });
    if (ec && !ServerClosed()) return bound.Failure(what_, "closing the WebSocket", ec);
    return absl::OkStatus();
  }

 private:
  // Bounds the operation about to start by `ctx`.
  CallBound Start(const Context& ctx) {
    deadline_ = ctx.deadline();
    CallBound bound(ctx, *conn_);
    bound.Arm(*conn_);
    return bound;
  }

  void OnServerClose() {
    server_closed_ = true;
    const Deadline grace = Clock::now() + kCloseGrace;
    if (!deadline_ || *deadline_ > grace) conn_->tcp().expires_at(grace);
  }

  // The server's close frame has arrived (seen by a read, or by our own closing handshake,
  // which reports it only through the close reason).
  bool ServerClosed() const {
    return server_closed_ || ws_.reason().code != websocket::close_code::none;
  }

  std::unique_ptr<Connection> conn_;  // declared first: outlives ws_
  websocket::stream<beast::ssl_stream<beast::tcp_stream>&> ws_;
  const std::string what_;
  std::string subprotocol_;
  std::optional<Deadline> deadline_;  // of the operation in progress
  bool server_closed_ = false;
};

}  // namespace

absl::StatusOr<UpgradeResponse> UpgradeToWebSocket(
    const Context& ctx, std::unique_ptr<Connection> conn, const std::string& host,
    const std::string& target, const std::map<std::string, std::string>& headers,
    const std::vector<std::string>& subprotocols, const std::string& what) {
  auto socket = std::make_unique<BeastWebSocket>(std::move(conn), what);
  absl::StatusOr<UpgradeResponse> response =
      socket->Handshake(ctx, host, target, headers, subprotocols);
  if (response.ok() && response->status == 101) response->socket = std::move(socket);
  return response;
}

}  // namespace coderun::kube::beast_internal
