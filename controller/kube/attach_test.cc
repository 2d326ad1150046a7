#include "kube/attach.h"

#include <chrono>
#include <memory>
#include <string>
#include <vector>

#include "gmock/gmock.h"
#include "gtest/gtest.h"
#include "kube/errors.h"
#include "kube/http_client.h"
#include "kube/testing/fake_transport.h"
#include "kube/testing/fake_websocket.h"

namespace coderun::kube {
namespace {

using ::testing::ElementsAre;
using ::testing::HasSubstr;
using testing::AttachSession;
using testing::FakeWebSocket;

// Bytes 0..255 over and over: every byte value, channel and CLOSE bytes included.
std::string Bytes(size_t n) {
  std::string data(n, '\0');
  for (size_t i = 0; i < n; ++i) data[i] = static_cast<char>(i * 7 % 256);
  return data;
}

Context Ctx() { return Context().WithTimeout(std::chrono::seconds(10)); }

TEST(AttachProtocolTest, StdinMessagesStartWithChannelZero) {
  EXPECT_EQ(StdinMessage("foo\n"), std::string("\0foo\n", 5));
  EXPECT_EQ(StdinMessage(""), std::string(1, '\0'));
  EXPECT_EQ(CloseStdinMessage(), std::string("\xff\x00", 2));
}

TEST(AttachProtocolTest, OffersV5ThenV4AndAcceptsOnlyThose) {
  EXPECT_THAT(AttachSubprotocols(), ElementsAre("v5.channel.k8s.io", "v4.channel.k8s.io"));
  EXPECT_EQ(*ParseStreamProtocol("v5.channel.k8s.io"), StreamProtocol::kV5);
  EXPECT_EQ(*ParseStreamProtocol("v4.channel.k8s.io"), StreamProtocol::kV4);
  for (const char* other : {"", "channel.k8s.io", "v3.channel.k8s.io", "base64.channel.k8s.io"}) {
    EXPECT_EQ(ParseStreamProtocol(other).status().code(), absl::StatusCode::kUnavailable) << other;
  }
}

TEST(AttachProtocolTest, PathAsksForStdinOnly) {
  EXPECT_EQ(AttachStdinPath("team-a", "warm-1", "runner"),
            "/api/v1/namespaces/team-a/pods/warm-1/attach?container=runner&stdin=true"
            "&stdout=false&stderr=false&tty=false");
  EXPECT_EQ(AttachStdinPath("a", "p", ""),
            "/api/v1/namespaces/a/pods/p/attach?stdin=true&stdout=false&stderr=false&tty=false");
}

TEST(AttachProtocolTest, ErrorChannelStatusMapsLikeApiErrors) {
  EXPECT_TRUE(ErrorChannelStatus(R"({"metadata":{},"status":"Success"})").ok());
  absl::Status failed = ErrorChannelStatus(
      R"({"metadata":{},"status":"Failure","message":"error attaching to container: )"
      R"(container is in CONTAINER_EXITED state","reason":"InternalError","code":500})");
  EXPECT_EQ(failed.code(), absl::StatusCode::kUnavailable) << failed;
  EXPECT_EQ(HttpCode(failed), 500);
  EXPECT_EQ(Reason(failed), "InternalError");
  EXPECT_THAT(failed.message(), HasSubstr("CONTAINER_EXITED"));
  EXPECT_EQ(HttpCode(ErrorChannelStatus(R"({"status":"Failure","message":"x"})")), 500)
      << "a Failure without a code";
  EXPECT_EQ(ErrorChannelStatus("not json").code(), absl::StatusCode::kInvalidArgument);
  EXPECT_EQ(ErrorChannelStatus("{}").code(), absl::StatusCode::kInvalidArgument);
}

struct Delivered {
  absl::Status status;
  std::shared_ptr<AttachSession> session = std::make_shared<AttachSession>();
};

Delivered Deliver(FakeWebSocket::Script script, std::string_view data,
                  const Context& ctx = Ctx()) {
  Delivered d;
  FakeWebSocket socket(std::move(script), d.session);
  d.status = DeliverStdin(ctx, socket, data);
  return d;
}

TEST(DeliverStdinTest, V5WritesChunksThenClosesStdinAndWaitsForSuccess) {
  const std::string data = Bytes(kMaxStdinChunkBytes * 2 + 5);
  Delivered d = Deliver({}, data);
  ASSERT_TRUE(d.status.ok()) << d.status;
  EXPECT_EQ(d.session->stdin_data, data);
  ASSERT_EQ(d.session->messages.size(), 4u);  // 32 KiB, 32 KiB, 5 bytes, CLOSE
  EXPECT_EQ(d.session->messages[0].size(), kMaxStdinChunkBytes + 1);
  EXPECT_EQ(d.session->messages[2].size(), 6u);
  EXPECT_EQ(d.session->messages[3], CloseStdinMessage());
  EXPECT_TRUE(d.session->stdin_closed);
}

TEST(DeliverStdinTest, EmptyDataOnlyClosesStdin) {
  Delivered d = Deliver({}, "");
  ASSERT_TRUE(d.status.ok()) << d.status;
  EXPECT_THAT(d.session->messages, ElementsAre(CloseStdinMessage()));
}

TEST(DeliverStdinTest, V5ClosesTheWebSocketWhenTheServerWaitsForIt) {
  FakeWebSocket::Script script;
  script.close_after_status = false;
  Delivered d = Deliver(script, "x");
  ASSERT_TRUE(d.status.ok()) << d.status;
  EXPECT_TRUE(d.session->client_closed);
}

TEST(DeliverStdinTest, V4EndsStdinByClosingTheWebSocket) {
  FakeWebSocket::Script script;
  script.subprotocol = kStreamProtocolV4;
  const std::string data = Bytes(1000);
  Delivered d = Deliver(script, data);
  ASSERT_TRUE(d.status.ok()) << d.status;
  EXPECT_EQ(d.session->stdin_data, data);
  EXPECT_EQ(d.session->messages.size(), 1u) << "no CLOSE signal in v4";
  EXPECT_TRUE(d.session->client_closed);
}

TEST(DeliverStdinTest, AFailureStatusIsTheError) {
  FakeWebSocket::Script script;
  script.status =
      R"({"metadata":{},"status":"Failure","message":"container not running","code":500})";
  Delivered d = Deliver(script, "x");
  EXPECT_EQ(d.status.code(), absl::StatusCode::kUnavailable) << d.status;
  EXPECT_THAT(d.status.message(), HasSubstr("container not running"));
}

TEST(DeliverStdinTest, ASessionEndedWithoutAStatusIsUnavailable) {
  FakeWebSocket::Script script;
  script.status = std::nullopt;
  Delivered d = Deliver(script, "x");
  EXPECT_EQ(d.status.code(), absl::StatusCode::kUnavailable) << d.status;
  EXPECT_THAT(d.status.message(), HasSubstr("without a status"));
}

TEST(DeliverStdinTest, AnUnknownSubprotocolSendsNothing) {
  FakeWebSocket::Script script;
  script.subprotocol = "channel.k8s.io";
  Delivered d = Deliver(script, "x");
  EXPECT_EQ(d.status.code(), absl::StatusCode::kUnavailable) << d.status;
  EXPECT_TRUE(d.session->messages.empty());
}

TEST(DeliverStdinTest, ABrokenConnectionIsItsError) {
  FakeWebSocket::Script script;
  script.send_error = absl::UnavailableError("sending a message: broken pipe");
  Delivered d = Deliver(script, "x");
  EXPECT_EQ(d.status, script.send_error);
}

TEST(DeliverStdinTest, ASilentServerEndsAtTheDeadline) {
  FakeWebSocket::Script script;
  script.silent = true;
  const auto start = std::chrono::steady_clock::now();
  Delivered d = Deliver(script, "x", Context().WithTimeout(std::chrono::milliseconds(100)));
  EXPECT_EQ(d.status.code(), absl::StatusCode::kDeadlineExceeded) << d.status;
  EXPECT_TRUE(d.session->stdin_closed);
  EXPECT_LT(std::chrono::steady_clock::now() - start, std::chrono::seconds(5));
}

// The HTTP client's side: the request it upgrades, what it offers, how a refusal maps.
class ClientAttachTest : public ::testing::Test {
 protected:
  ClientAttachTest() {
    auto transport = std::make_unique<FakeTransport>();
    transport_ = transport.get();
    client_ = NewClient(std::move(transport),
                        ClientOptions{.qps = 0,
                                      .burst = 1,
                                      .on_request = [this](const std::string& verb,
                                                           const std::string& code,
                                                           std::optional<double>) {
                                        observed_.push_back(verb + " " + code);
                                      }});
  }
  FakeTransport* transport_;
  std::unique_ptr<Client> client_;
  std::vector<std::string> observed_;
};

TEST_F(ClientAttachTest, UpgradesTheAttachRequestAndDeliversTheData) {
  auto session = std::make_shared<AttachSession>();
  transport_->SetUpgradeHandler([&](const HttpRequest&, const std::vector<std::string>&) {
    return testing::FakeUpgrade({}, session);
  });
  ASSERT_TRUE(client_->AttachStdin(Context(), "a", "p", "runner", "print(1)\n").ok());
  EXPECT_EQ(session->stdin_data, "print(1)\n");
  const HttpRequest request = transport_->last_request();
  EXPECT_EQ(request.method, "GET");
  EXPECT_EQ(request.path_and_query, AttachStdinPath("a", "p", "runner"));
  EXPECT_EQ(request.headers.at("User-Agent"), kUserAgent);
  EXPECT_EQ(transport_->last_subprotocols(), AttachSubprotocols());
  ASSERT_TRUE(transport_->last_deadline().has_value()) << "kRequestTimeout applies";
  EXPECT_LE(*transport_->last_deadline(), std::chrono::steady_clock::now() + kRequestTimeout);
  EXPECT_THAT(observed_, ElementsAre("attach 101"));
}

TEST_F(ClientAttachTest, ARefusedUpgradeIsTheApiError) {
  transport_->SetUpgradeHandler([](const HttpRequest&, const std::vector<std::string>&) {
    return UpgradeResponse{404,
                           R"({"kind":"Status","apiVersion":"v1","status":"Failure",)"
                           R"("message":"pods \"p\" not found","reason":"NotFound",)"
                           R"("details":{"name":"p","kind":"pods"},"code":404})",
                           nullptr};
  });
  absl::Status s = client_->AttachStdin(Context(), "a", "p", "runner", "x");
  EXPECT_TRUE(kube::IsNotFound(s)) << s;
  EXPECT_EQ(s.message(), "pods \"p\" not found (HTTP 404, reason NotFound)");
  EXPECT_THAT(observed_, ElementsAre("attach 404"));
}

TEST_F(ClientAttachTest, ASessionThatBreaksCountsAsNoAnswer) {
  transport_->SetUpgradeHandler([](const HttpRequest&, const std::vector<std::string>&) {
    FakeWebSocket::Script script;
    script.send_error = absl::UnavailableError("broken pipe");
    return testing::FakeUpgrade(script, std::make_shared<AttachSession>());
  });
  EXPECT_EQ(client_->AttachStdin(Context(), "a", "p", "runner", "x").code(),
            absl::StatusCode::kUnavailable);
  EXPECT_THAT(observed_, ElementsAre("attach error"));
}

TEST_F(ClientAttachTest, AnEmptyPodNameIsRefusedBeforeAnyRequest) {
  EXPECT_EQ(client_->AttachStdin(Context(), "a", "", "runner", "x").code(),
            absl::StatusCode::kInvalidArgument);
  EXPECT_TRUE(transport_->requests().empty());
}

}  // namespace
}  // namespace coderun::kube
