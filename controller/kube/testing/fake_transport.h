// A scripted Transport for unit tests: records every request and answers from a queue of
// canned responses (or a handler). Thread-safe. Header-only.
#pragma once

#include <deque>
#include <functional>
#include <mutex>
#include <optional>
#include <string>
#include <utility>
#include <vector>

#include "absl/status/statusor.h"
#include "kube/transport.h"

namespace coderun::kube {

class FakeTransport : public Transport {
 public:
  struct Reply {
    absl::StatusOr<HttpResponse> response;
    // For Stream(): the lines delivered before returning (when response is OK and 2xx).
    std::vector<std::string> lines;
  };
  // Optional: computes the reply instead of the queue.
  using Handler = std::function<Reply(const HttpRequest&)>;
  // Answers Upgrade() (e.g. with testing::FakeUpgrade of fake_websocket.h).
  using UpgradeHandler = std::function<absl::StatusOr<UpgradeResponse>(
      const HttpRequest&, const std::vector<std::string>& subprotocols)>;

  // Queues a whole response for the next Do() or Stream().
  void Respond(int status, std::string body) {
    std::lock_guard<std::mutex> lock(mu_);
    replies_.push_back(Reply{HttpResponse{status, std::move(body)}, {}});
  }
  // Queues a 200 stream whose body is `lines` (each without its newline).
  void RespondStream(std::vector<std::string> lines) {
    std::lock_guard<std::mutex> lock(mu_);
    replies_.push_back(Reply{HttpResponse{200, ""}, std::move(lines)});
  }
  // Queues a transport failure (no HTTP response).
  void Fail(absl::Status status) {
    std::lock_guard<std::mutex> lock(mu_);
    replies_.push_back(Reply{std::move(status), {}});
  }
  void SetHandler(Handler handler) {
    std::lock_guard<std::mutex> lock(mu_);
    handler_ = std::move(handler);
  }
  void SetUpgradeHandler(UpgradeHandler handler) {
    std::lock_guard<std::mutex> lock(mu_);
    upgrade_handler_ = std::move(handler);
  }
  // The subprotocols the last Upgrade() offered.
  std::vector<std::string> last_subprotocols() const {
    std::lock_guard<std::mutex> lock(mu_);
    return last_subprotocols_;
  }

  // Every request received so far, in order.
  std::vector<HttpRequest> requests() const {
    std::lock_guard<std::mutex> lock(mu_);
    return requests_;
  }
  HttpRequest last_request() const {
    std::lock_guard<std::mutex> lock(mu_);
    return requests_.empty() ? HttpRequest{} : requests_.back();
  }
  // The deadline of the last request's context.
  std::optional<Deadline> last_deadline() const {
    std::lock_guard<std::mutex> lock(mu_);
    return last_deadline_;
  }

  // How many streamed lines the last Stream() call handed to its callback.
  size_t lines_delivered() const {
    std::lock_guard<std::mutex> lock(mu_);
    return lines_delivered_;
  }

  absl::StatusOr<HttpResponse> Do(const Context& ctx, const HttpRequest& request) override {
    Reply reply = Next(ctx, request);
    return reply.response;
  }

  absl::StatusOr<HttpResponse> Stream(
      const Context& ctx, const HttpRequest& request,
      const std::function<bool(std::string_view line)>& on_line) override {
    Reply reply = Next(ctx, request);
    if (!reply.response.ok()) return reply.response;
    if (reply.response->status < 200 || reply.response->status >= 300) return reply.response;
    size_t delivered = 0;
    for (const std::string& line : reply.lines) {
      ++delivered;
      if (!on_line(line)) break;
    }
    {
      std::lock_guard<std::mutex> lock(mu_);
      lines_delivered_ = delivered;
    }
    return reply.response;
  }

  // FailedPrecondition without an upgrade handler.
  absl::StatusOr<UpgradeResponse> Upgrade(const Context& ctx, const HttpRequest& request,
                                          const std::vector<std::string>& subprotocols) override {
    std::lock_guard<std::mutex> lock(mu_);
    requests_.push_back(request);
    last_deadline_ = ctx.deadline();
    last_subprotocols_ = subprotocols;
    if (!upgrade_handler_) {
      return absl::FailedPreconditionError("FakeTransport: no upgrade handler for " +
                                           request.path_and_query);
    }
    return upgrade_handler_(request, subprotocols);
  }

 private:
  Reply Next(const Context& ctx, const HttpRequest& request) {
    std::lock_guard<std::mutex> lock(mu_);
    requests_.push_back(request);
    last_deadline_ = ctx.deadline();
    if (handler_) return handler_(request);
    if (replies_.empty()) {
      return Reply{absl::FailedPreconditionError("FakeTransport: no reply queued for " +
                                                 request.method + " " + request.path_and_query),
                   {}};
    }
    Reply reply = std::move(replies_.front());
    replies_.pop_front();
    return reply;
  }

  mutable std::mutex mu_;
  std::deque<Reply> replies_;         // guarded by mu_
  Handler handler_;                   // guarded by mu_
  UpgradeHandler upgrade_handler_;    // guarded by mu_
  std::vector<std::string> last_subprotocols_;  // guarded by mu_
  std::vector<HttpRequest> requests_;  // guarded by mu_
  size_t lines_delivered_ = 0;        // guarded by mu_
  std::optional<Deadline> last_deadline_;  // guarded by mu_
};

}  // namespace coderun::kube
