// Test-only: the server end of a pods/attach session as a WebSocket (kube/transport.h), for
// unit tests of what writes a container's stdin (kube/attach.h). It speaks the Kubernetes
// streaming protocol as the apiserver's translator does: an empty error-channel message when
// the session opens; after v5's CLOSE signal for stdin, the status on the error channel and
// the server's close. Header-only.
#pragma once

#include <chrono>
#include <deque>
#include <memory>
#include <optional>
#include <string>
#include <utility>
#include <vector>

#include "absl/status/status.h"
#include "absl/strings/str_cat.h"
#include "kube/attach.h"
#include "kube/transport.h"

namespace coderun::kube::testing {

inline constexpr char kSuccessStatus[] = R"({"metadata":{},"status":"Success"})";

// What the server saw of one session. Read it once the client's call has returned.
struct AttachSession {
  std::vector<std::string> messages;  // every message the client sent, in order
  std::string stdin_data;             // the stdin payloads, in order
  bool stdin_closed = false;          // the CLOSE signal for stdin arrived
  bool client_closed = false;         // the client closed the WebSocket
};

class FakeWebSocket final : public WebSocket {
 public:
  struct Script {
    std::string subprotocol = kStreamProtocolV5;
    // Sent on the error channel after the CLOSE signal; nullopt: the server closes without.
    std::optional<std::string> status = kSuccessStatus;
    // False: after the status the server waits for the client to close (a server may).
    bool close_after_status = true;
    // Not OK: every Send fails with it (the connection broke).
    absl::Status send_error;
    // True: nothing ever comes back (Receive waits for its context's end).
    bool silent = false;
  };

  FakeWebSocket(Script script, std::shared_ptr<AttachSession> session)
      : script_(std::move(script)), session_(std::move(session)) {
    if (!script_.silent) to_client_.push_back(std::string(1, kErrorChannel));
  }

  const std::string& subprotocol() const override { return script_.subprotocol; }

  absl::Status Send(const Context& ctx, std::string_view message) override {
    if (absl::Status st = ctx.Err(); !st.ok()) return st;
    if (!script_.send_error.ok()) return script_.send_error;
    if (server_closed_) return absl::FailedPreconditionError("the server closed the WebSocket");
    session_->messages.emplace_back(message);
    if (message.empty()) return absl::OkStatus();
    if (script_.subprotocol == kStreamProtocolV5 && message == CloseStdinMessage()) {
      session_->stdin_closed = true;
      if (!script_.silent) {
        if (script_.status) to_client_.push_back(std::string(1, kErrorChannel) + *script_.status);
        closing_ = !script_.status || script_.close_after_status;
      }
    } else if (message[0] == kStdinChannel) {
      session_->stdin_data.append(message.substr(1));
    }
    return absl::OkStatus();
  }

  absl::StatusOr<std::optional<std::string>> Receive(const Context& ctx) override {
    if (!to_client_.empty()) {
      std::string message = std::move(to_client_.front());
      to_client_.pop_front();
      return message;
    }
    if (closing_) {
      server_closed_ = true;
      return std::nullopt;
    }
    // Nothing will come: wait for the caller's deadline or cancellation, as a real read does.
    ctx.SleepFor(std::chrono::hours(1));
    absl::Status st = ctx.Err();
    return st.ok() ? absl::DeadlineExceededError("receiving: no data") : st;
  }

  absl::Status Close(const Context& ctx) override {
    if (absl::Status st = ctx.Err(); !st.ok()) return st;
    session_->client_closed = true;
    return absl::OkStatus();
  }

 private:
  const Script script_;
  const std::shared_ptr<AttachSession> session_;
  std::deque<std::string> to_client_;
  bool closing_ = false;        // the server closes once to_client_ is empty
  bool server_closed_ = false;  // its close has been delivered
};

// An UpgradeResponse carrying a FakeWebSocket (status 101).
inline UpgradeResponse FakeUpgrade(FakeWebSocket::Script script,
                                   std::shared_ptr<AttachSession> session) {
  return UpgradeResponse{101, "",
                         std::make_unique<FakeWebSocket>(std::move(script), std::move(session))};
}

}  // namespace coderun::kube::testing
