// Transport::Upgrade and Client::AttachStdin over real TLS against testing::AttachServer,
// which answers as the apiserver does.
#include <chrono>
#include <memory>
#include <string>
#include <thread>
#include <vector>

#include "gmock/gmock.h"
#include "gtest/gtest.h"
#include "kube/attach.h"
#include "kube/client.h"
#include "kube/config_client.h"
#include "kube/errors.h"
#include "kube/http_client.h"
#include "kube/testing/attach_server.h"
#include "kube/testing/test_certs.h"

namespace coderun::kube {
namespace {

using ::testing::HasSubstr;
using testing::AttachServer;
using testing::KeyPair;
using testing::MakeCert;

std::string Bytes(size_t n) {
  std::string data(n, '\0');
  for (size_t i = 0; i < n; ++i) data[i] = static_cast<char>((i * 31 + i / 256) % 256);
  return data;
}

class WebSocketTest : public ::testing::Test {
 protected:
  RestConfig Config(const AttachServer& server) const {
    RestConfig config;
    config.server = server.url();
    config.ca_pem = ca_.cert_pem;
    config.client_cert_pem = client_.cert_pem;
    config.client_key_pem = client_.key_pem;
    config.bearer_token = "tok";
    return config;
  }
  std::shared_ptr<Transport> Connect(const RestConfig& config,
                                     HttpLibrary library = HttpLibrary::kBeast) const {
    absl::StatusOr<std::unique_ptr<Transport>> t =
        NewTransportForConfig(config, TransportOptions{.library = library});
    EXPECT_TRUE(t.ok()) << t.status();
    return t.ok() ? std::shared_ptr<Transport>(*std::move(t)) : nullptr;
  }
  std::unique_ptr<Client> ClientFor(const AttachServer& server) const {
    return NewClient(Connect(Config(server)), ClientOptions{.qps = 0, .burst = 1});
  }
  static Context Ctx() { return Context().WithTimeout(std::chrono::seconds(10)); }

  KeyPair ca_ = MakeCert("test-ca", nullptr, /*is_ca=*/true);
  KeyPair server_cert_ = MakeCert("apiserver", &ca_, false, "IP:127.0.0.1,DNS:localhost");
  KeyPair client_ = MakeCert("admin", &ca_, false);
};

TEST_F(WebSocketTest, AttachDeliversEveryByteOverV5WithTheTokenAndTheClientCertificate) {
  AttachServer server(server_cert_, ca_.cert_pem, {});
  const std::string data = Bytes(300 * 1024 + 7);
  absl::Status s = ClientFor(server)->AttachStdin(Ctx(), "team-a", "warm-1", "runner", data);
  ASSERT_TRUE(s.ok()) << s;
  std::vector<AttachServer::Session> sessions = server.WaitForSessions(1);
  ASSERT_EQ(sessions.size(), 1u);
  const AttachServer::Session& seen = sessions[0];
  EXPECT_EQ(seen.target, AttachStdinPath("team-a", "warm-1", "runner"));
  EXPECT_EQ(seen.headers.at("authorization"), "Bearer tok");
  EXPECT_EQ(seen.headers.at("user-agent"), kUserAgent);
  EXPECT_EQ(seen.headers.at("sec-websocket-protocol"), "v5.channel.k8s.io, v4.channel.k8s.io");
  EXPECT_EQ(seen.client_cn, "admin");
  EXPECT_EQ(seen.protocol, kStreamProtocolV5);
  EXPECT_EQ(seen.stdin_data.size(), data.size());
  EXPECT_TRUE(seen.stdin_data == data);
  EXPECT_TRUE(seen.stdin_closed);
  EXPECT_LE(seen.largest_message, kMaxStdinChunkBytes + 1);
}

TEST_F(WebSocketTest, AttachFallsBackToV4AndClosesTheWebSocket) {
  AttachServer server(server_cert_, ca_.cert_pem, {.protocols = {kStreamProtocolV4}});
  const std::string data = Bytes(70 * 1024);
  absl::Status s = ClientFor(server)->AttachStdin(Ctx(), "a", "p", "runner", data);
  ASSERT_TRUE(s.ok()) << s;
  std::vector<AttachServer::Session> sessions = server.WaitForSessions(1);
  ASSERT_EQ(sessions.size(), 1u);
  const AttachServer::Session& seen = sessions[0];
  EXPECT_EQ(seen.protocol, kStreamProtocolV4);
  EXPECT_TRUE(seen.stdin_data == data);
  EXPECT_FALSE(seen.stdin_closed) << "v4 has no CLOSE signal";
  EXPECT_TRUE(seen.client_closed);
}

TEST_F(WebSocketTest, ARefusedUpgradeIsTheApiErrorOnOneLine) {
  AttachServer server(
      server_cert_, ca_.cert_pem,
      {.refuse_status = 403,
       .refuse_body = R"({"kind":"Status","apiVersion":"v1","status":"Failure","message":)"
                      R"("pods \"p\" is forbidden: User \"x\" cannot get resource \"pods/attach\")"
                      R"( in API group \"\" in the namespace \"a\"","reason":"Forbidden",)"
                      R"("details":{"name":"p","kind":"pods"},"code":403})"});
  absl::Status s = ClientFor(server)->AttachStdin(Ctx(), "a", "p", "runner", "x");
  EXPECT_EQ(s.code(), absl::StatusCode::kPermissionDenied) << s;
  EXPECT_EQ(HttpCode(s), 403);
  EXPECT_THAT(s.message(), HasSubstr("cannot get resource \"pods/attach\""));
  EXPECT_EQ(std::string(s.message()).find('\n'), std::string::npos);
}

TEST_F(WebSocketTest, AFailureStatusAfterStdinClosedIsTheError) {
  AttachServer server(server_cert_, ca_.cert_pem,
                      {.status = R"({"metadata":{},"status":"Failure","message":)"
                                 R"("error attaching to container: container is in )"
                                 R"(CONTAINER_EXITED state","reason":"InternalError","code":500})"});
  absl::Status s = ClientFor(server)->AttachStdin(Ctx(), "a", "p", "runner", "x");
  EXPECT_EQ(s.code(), absl::StatusCode::kUnavailable) << s;
  EXPECT_THAT(s.message(), HasSubstr("CONTAINER_EXITED"));
}

TEST_F(WebSocketTest, AServerSelectingASubprotocolNotOfferedFailsTheUpgrade) {
  AttachServer server(server_cert_, ca_.cert_pem, {.force_protocol = "base64.channel.k8s.io"});
  absl::Status s = ClientFor(server)->AttachStdin(Ctx(), "a", "p", "runner", "x");
  EXPECT_EQ(s.code(), absl::StatusCode::kUnavailable) << s;
  EXPECT_THAT(s.message(), HasSubstr("not offered"));
  std::vector<AttachServer::Session> sessions = server.WaitForSessions(1);
  ASSERT_EQ(sessions.size(), 1u);
  EXPECT_EQ(sessions[0].messages, 0u);
}

TEST_F(WebSocketTest, AServerUrlWithAPathPrefixesTheUpgrade) {
  AttachServer server(server_cert_, ca_.cert_pem, {});
  RestConfig config = Config(server);
  config.server += "/k8s/clusters/c-1/";
  std::unique_ptr<Client> client = NewClient(Connect(config), ClientOptions{.qps = 0});
  ASSERT_TRUE(client->AttachStdin(Ctx(), "a", "p", "runner", "x").ok());
  std::vector<AttachServer::Session> sessions = server.WaitForSessions(1);
  ASSERT_EQ(sessions.size(), 1u);
  EXPECT_EQ(sessions[0].target, "/k8s/clusters/c-1" + AttachStdinPath("a", "p", "runner"));
}

TEST_F(WebSocketTest, AHungSessionEndsAtTheDeadline) {
  AttachServer server(server_cert_, ca_.cert_pem, {.hang = true});
  const auto start = std::chrono::steady_clock::now();
  absl::Status s = ClientFor(server)->AttachStdin(
      Context().WithTimeout(std::chrono::milliseconds(300)), "a", "p", "runner", "x");
  EXPECT_EQ(s.code(), absl::StatusCode::kDeadlineExceeded) << s;
  EXPECT_LT(std::chrono::steady_clock::now() - start, std::chrono::seconds(5));
}

TEST_F(WebSocketTest, CancelEndsAHungSession) {
  AttachServer server(server_cert_, ca_.cert_pem, {.hang = true});
  std::unique_ptr<Client> client = ClientFor(server);
  CancelSource stop;
  std::thread canceller([&] {
    std::this_thread::sleep_for(std::chrono::milliseconds(200));
    stop.Cancel();
  });
  const auto start = std::chrono::steady_clock::now();
  absl::Status s = client->AttachStdin(stop.context(), "a", "p", "runner", "x");
  canceller.join();
  EXPECT_EQ(s.code(), absl::StatusCode::kCancelled) << s;
  EXPECT_LT(std::chrono::steady_clock::now() - start, std::chrono::seconds(5));
}

TEST_F(WebSocketTest, CpprestsdkHasNoWebSockets) {
  AttachServer server(server_cert_, ca_.cert_pem, {});
  std::unique_ptr<Client> client = NewClient(Connect(Config(server), HttpLibrary::kCpprestsdk));
  EXPECT_EQ(client->AttachStdin(Ctx(), "a", "p", "runner", "x").code(),
            absl::StatusCode::kUnimplemented);
  EXPECT_TRUE(server.sessions().empty());
}

}  // namespace
}  // namespace coderun::kube
