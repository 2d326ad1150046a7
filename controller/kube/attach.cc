#include "kube/attach.h"

#include <optional>

#include "absl/strings/str_cat.h"
#include "common/status_macros.h"
#include "kube/client.h"
#include "kube/errors.h"
#include "kube/http_client.h"
#include "nlohmann/json.hpp"

namespace coderun::kube {

const std::vector<std::string>& AttachSubprotocols() {
  static const std::vector<std::string> offered = {kStreamProtocolV5, kStreamProtocolV4};
  return offered;
}

absl::StatusOr<StreamProtocol> ParseStreamProtocol(std::string_view selected) {
  if (selected == kStreamProtocolV5) return StreamProtocol::kV5;
  if (selected == kStreamProtocolV4) return StreamProtocol::kV4;
  return absl::UnavailableError(absl::StrCat("attach: the server selected subprotocol \"",
                                             std::string(selected), "\", not ", kStreamProtocolV5,
                                             " or ",
                                             kStreamProtocolV4));
}

std::string AttachStdinPath(std::string_view ns, std::string_view pod,
                            std::string_view container) {
  std::string path = kPods.Path(ns, pod) + "/attach?";
  if (!container.empty()) absl::StrAppend(&path, "container=", UrlEscape(container), "&");
  absl::StrAppend(&path, "stdin=true&stdout=false&stderr=false&tty=false");
  return path;
}

std::string StdinMessage(std::string_view chunk) {
  std::string message(1, kStdinChannel);
  message.append(chunk);
  return message;
}

std::string CloseStdinMessage() { return std::string{kStreamClose, kStdinChannel}; }

absl::Status ErrorChannelStatus(std::string_view payload) {
  nlohmann::json status =
      nlohmann::json::parse(payload.begin(), payload.end(), nullptr, /*allow_exceptions=*/false);
  if (!status.is_object() || !status.contains("status") || !status["status"].is_string()) {
    return absl::InvalidArgumentError(
        absl::StrCat("attach: the error channel carried no status: ",
                     std::string(payload.substr(0, 200))));
  }
  if (status["status"] == "Success") return absl::OkStatus();
  const auto code = status.find("code");
  return ApiError(code != status.end() && code->is_number_integer() ? code->get<int>() : 500,
                  payload);
}

absl::Status DeliverStdin(const Context& ctx, WebSocket& socket, std::string_view data) {
  ASSIGN_OR_RETURN(StreamProtocol protocol, ParseStreamProtocol(socket.subprotocol()));
  for (size_t at = 0; at < data.size(); at += kMaxStdinChunkBytes) {
    RETURN_IF_ERROR(socket.Send(ctx, StdinMessage(data.substr(at, kMaxStdinChunkBytes))));
  }
  if (protocol == StreamProtocol::kV4) return socket.Close(ctx);

  RETURN_IF_ERROR(socket.Send(ctx, CloseStdinMessage()));
  std::optional<absl::Status> outcome;
  while (!outcome) {
    ASSIGN_OR_RETURN(std::optional<std::string> message, socket.Receive(ctx));
    if (!message) break;  // the server closed
    // Other channels, and the empty error-channel message that says the session is open,
    // are not the outcome.
    if (message->size() > 1 && (*message)[0] == kErrorChannel) {
      outcome = ErrorChannelStatus(std::string_view(*message).substr(1));
    }
  }
  if (!outcome) {
    return absl::UnavailableError("attach: the server ended the session without a status");
  }
  absl::Status closed = socket.Close(ctx);
  return outcome->ok() ? closed : *outcome;
}

}  // namespace coderun::kube
