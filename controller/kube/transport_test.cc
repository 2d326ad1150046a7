#include "kube/beast_transport.h"
#include "kube/cpprest_transport.h"

#include <chrono>
#include <cstdio>
#include <future>
#include <mutex>
#include <string>
#include <thread>
#include <vector>

#include "absl/strings/str_cat.h"
#include "gmock/gmock.h"
#include "gtest/gtest.h"
#include "kube/config_client.h"
#include "kube/errors.h"
#include "kube/testing/silent_server.h"
#include "kube/testing/test_certs.h"
#include "kube/testing/test_tls_server.h"

namespace coderun::kube {
namespace {

using ::testing::HasSubstr;
using testing::KeyPair;
using testing::MakeCert;
using testing::ServedRequest;
using testing::ServerConn;
using testing::TlsTestServer;

const auto kLibraries = ::testing::Values(HttpLibrary::kBeast, HttpLibrary::kCpprestsdk);
std::string LibraryName(const ::testing::TestParamInfo<HttpLibrary>& info) {
  return info.param == HttpLibrary::kBeast ? "Beast" : "Cpprestsdk";
}

// Every test runs against both HTTP libraries (config_client.h): they keep one contract.
class TransportTest : public ::testing::TestWithParam<HttpLibrary> {
 protected:
  RestConfig Config(const TlsTestServer& server) const {
    RestConfig config;
    config.server = server.url();
    config.ca_pem = ca_.cert_pem;
    config.client_cert_pem = client_.cert_pem;
    config.client_key_pem = client_.key_pem;
    config.bearer_token = "tok";
    return config;
  }
  std::unique_ptr<kube::Transport> Connect(const RestConfig& config,
                                           std::chrono::nanoseconds token_check_interval =
                                               kTokenCheckInterval) const {
    TransportOptions options = Options();
    options.token_check_interval = token_check_interval;
    absl::StatusOr<std::unique_ptr<kube::Transport>> t = NewTransportForConfig(config, options);
    EXPECT_TRUE(t.ok()) << t.status();
    return t.ok() ? *std::move(t) : nullptr;
  }
  TransportOptions Options() const {
    TransportOptions options;
    options.library = GetParam();
    return options;
  }
  absl::StatusOr<std::unique_ptr<Transport>> New(const RestConfig& config) const {
    return GetParam() == HttpLibrary::kBeast ? NewBeastTransport(config)
                                             : NewCpprestTransport(config);
  }
  static Context Ctx() { return Context().WithTimeout(std::chrono::seconds(10)); }
  static HttpRequest Get(std::string path) {
    HttpRequest r;
    r.method = "GET";
    r.path_and_query = std::move(path);
    r.headers["User-Agent"] = "coderun-controller";
    return r;
  }

  KeyPair ca_ = MakeCert("test-ca", nullptr, /*is_ca=*/true);
  KeyPair server_cert_ = MakeCert("apiserver", &ca_, false, "IP:127.0.0.1,DNS:localhost");
  KeyPair client_ = MakeCert("admin", &ca_, false);
};

TEST_P(TransportTest, DoVerifiesServerAndPresentsClientCertificate) {
  TlsTestServer server(server_cert_, ca_.cert_pem, [](const ServedRequest& r, ServerConn& c) {
    if (r.method == "POST") {
      c.Respond(201, r.body);
    } else {
      c.Respond(404, R"({"kind":"Status","reason":"NotFound","code":404})");
    }
  });
  std::unique_ptr<kube::Transport> t = Connect(Config(server));
  ASSERT_NE(t, nullptr);
  HttpRequest post = Get("/api/v1/namespaces/a/configmaps?x=a%20b");
  post.method = "POST";
  post.body = R"({"a":1})";
  post.headers["Content-Type"] = "application/json";
  absl::StatusOr<HttpResponse> created = t->Do(Ctx(), post);
  ASSERT_TRUE(created.ok()) << created.status();
  EXPECT_EQ(created->status, 201);
  EXPECT_EQ(created->body, R"({"a":1})");

  absl::StatusOr<HttpResponse> missing = t->Do(Ctx(), Get("/api/v1/namespaces/a/configmaps/nope"));
  ASSERT_TRUE(missing.ok()) << missing.status();  // an HTTP error is a value
  EXPECT_EQ(missing->status, 404);

  std::vector<ServedRequest> seen = server.requests();
  ASSERT_EQ(seen.size(), 2u);
  EXPECT_EQ(seen[0].target, "/api/v1/namespaces/a/configmaps?x=a%20b");
  EXPECT_EQ(seen[0].client_cn, "admin");
  EXPECT_EQ(seen[0].headers["authorization"], "Bearer tok");
  EXPECT_EQ(seen[0].headers["user-agent"], "coderun-controller");
  EXPECT_EQ(seen[0].headers["content-type"], "application/json");
}

TEST_P(TransportTest, BearerTokenComesFromTheTokenFile) {
  TlsTestServer server(server_cert_, "", [](const ServedRequest&, ServerConn& c) {
    c.Respond(200, "{}");
  });
  char path[] = "/tmp/token_test.XXXXXX";
  int fd = mkstemp(path);
  ASSERT_GE(fd, 0);
  ASSERT_EQ(write(fd, "from-file\n", 10), 10);
  close(fd);
  RestConfig config = Config(server);
  config.client_cert_pem.clear();
  config.client_key_pem.clear();
  config.bearer_token.clear();
  config.token_file = path;
  absl::StatusOr<HttpResponse> r = Connect(config)->Do(Ctx(), Get("/version"));
  unlink(path);
  ASSERT_TRUE(r.ok()) << r.status();
  ASSERT_EQ(server.requests().size(), 1u);
  EXPECT_EQ(server.requests()[0].headers["authorization"], "Bearer from-file");
  EXPECT_EQ(server.requests()[0].client_cn, "");
}

// A server that, like the apiserver after a token rotation, accepts one token only.
class RotatingTokenTest : public TransportTest {
 protected:
  RotatingTokenTest() {
    char path[] = "/tmp/token_rotation_test.XXXXXX";
    int fd = mkstemp(path);
    EXPECT_GE(fd, 0);
    close(fd);
    path_ = path;
    Rotate("token-1");
  }
  ~RotatingTokenTest() override { unlink(path_.c_str()); }

  // Writes a new token file (a new file renamed over the old one, as the kubelet does) and
  // makes the server accept only that token.
  void Rotate(const std::string& token) {
    const std::string tmp = path_ + ".new";
    FILE* f = fopen(tmp.c_str(), "w");
    ASSERT_NE(f, nullptr);
    fprintf(f, "%s\n", token.c_str());
    fclose(f);
    ASSERT_EQ(rename(tmp.c_str(), path_.c_str()), 0);
    std::lock_guard lock(mu_);
    accepted_ = token;
  }
  TlsTestServer::Handler Handler() {
    return [this](const ServedRequest& r, ServerConn& c) {
      std::string accepted;
      {
        std::lock_guard lock(mu_);
        accepted = accepted_;
      }
      auto auth = r.headers.find("authorization");
      if (auth == r.headers.end() || auth->second != "Bearer " + accepted) {
        c.Respond(401, R"({"kind":"Status","reason":"Unauthorized","code":401})");
      } else {
        c.Respond(200, "{}\n");
      }
    };
  }
  RestConfig TokenFileConfig(const TlsTestServer& server) const {
    RestConfig config = Config(server);
    config.client_cert_pem.clear();
    config.client_key_pem.clear();
    config.bearer_token = "token-1";  // what the kubeconfig loader read
    config.token_file = path_;
    return config;
  }
  static std::vector<std::string> Tokens(const TlsTestServer& server) {
    std::vector<std::string> out;
    for (const ServedRequest& r : server.requests()) out.push_back(r.headers.at("authorization"));
    return out;
  }

  std::string path_;
  std::mutex mu_;
  std::string accepted_;  // guarded by mu_
};

TEST_P(RotatingTokenTest, A401RereadsTheRotatedFileAndRetriesOnce) {
  TlsTestServer server(server_cert_, "", Handler());
  // A check interval no test run outlasts: only the 401 can make the transport look.
  std::unique_ptr<kube::Transport> t = Connect(TokenFileConfig(server), std::chrono::hours(1));
  ASSERT_NE(t, nullptr);
  absl::StatusOr<HttpResponse> r = t->Do(Ctx(), Get("/version"));
  ASSERT_TRUE(r.ok()) << r.status();
  EXPECT_EQ(r->status, 200);

  // Rotated before the next check: the next request still carries the old token, is
  // refused, and goes again with the new one.
  Rotate("token-2");
  r = t->Do(Ctx(), Get("/version"));
  ASSERT_TRUE(r.ok()) << r.status();
  EXPECT_EQ(r->status, 200);
  r = t->Do(Ctx(), Get("/version"));
  ASSERT_TRUE(r.ok()) << r.status();
  EXPECT_EQ(r->status, 200);

  // Watches too.
  Rotate("token-3");
  std::vector<std::string> lines;
  r = t->Stream(Ctx(), Get("/api/v1/pods?watch=1"), [&](std::string_view line) {
    lines.emplace_back(line);
    return true;
  });
  ASSERT_TRUE(r.ok()) << r.status();
  EXPECT_EQ(r->status, 200);
  EXPECT_EQ(lines, std::vector<std::string>{"{}"});

  EXPECT_EQ(Tokens(server),
            (std::vector<std::string>{"Bearer token-1", "Bearer token-1", "Bearer token-2",
                                      "Bearer token-2", "Bearer token-2", "Bearer token-3"}));
}

TEST_P(RotatingTokenTest, A401WithAnUnchangedFileIsNotRetried) {
  TlsTestServer server(server_cert_, "", [](const ServedRequest&, ServerConn& c) {
    c.Respond(401, R"({"kind":"Status","reason":"Unauthorized","code":401})");
  });
  std::unique_ptr<kube::Transport> t = Connect(TokenFileConfig(server));
  ASSERT_NE(t, nullptr);
  absl::StatusOr<HttpResponse> r = t->Do(Ctx(), Get("/version"));
  ASSERT_TRUE(r.ok()) << r.status();
  EXPECT_EQ(r->status, 401);
  EXPECT_EQ(server.requests().size(), 1u);
}

TEST_P(RotatingTokenTest, ChangedFileIsPickedUpAtTheNextCheckWithoutA401) {
  TlsTestServer server(server_cert_, "", Handler());
  std::unique_ptr<kube::Transport> t =
      Connect(TokenFileConfig(server), std::chrono::milliseconds(0));
  ASSERT_NE(t, nullptr);
  ASSERT_TRUE(t->Do(Ctx(), Get("/version")).ok());
  Rotate("token-2");
  absl::StatusOr<HttpResponse> r = t->Do(Ctx(), Get("/version"));
  ASSERT_TRUE(r.ok()) << r.status();
  EXPECT_EQ(r->status, 200);
  EXPECT_EQ(Tokens(server), (std::vector<std::string>{"Bearer token-1", "Bearer token-2"}));
}

TEST_P(TransportTest, RefusesServerCertificateFromAnotherCa) {
  KeyPair other_ca = MakeCert("other-ca", nullptr, true);
  KeyPair impostor = MakeCert("apiserver", &other_ca, false, "IP:127.0.0.1");
  TlsTestServer server(impostor, "", [](const ServedRequest&, ServerConn& c) {
    c.Respond(200, "{}");
  });
  std::unique_ptr<kube::Transport> t = Connect(Config(server));
  absl::StatusOr<HttpResponse> r = t->Do(Ctx(), Get("/version"));
  EXPECT_EQ(r.status().code(), absl::StatusCode::kUnavailable) << r.status();
  EXPECT_TRUE(server.requests().empty());
}

TEST_P(TransportTest, RefusesServerCertificateForAnotherHost) {
  KeyPair wrong_host = MakeCert("apiserver", &ca_, false, "DNS:other.example");
  TlsTestServer server(wrong_host, "", [](const ServedRequest&, ServerConn& c) {
    c.Respond(200, "{}");
  });
  absl::StatusOr<HttpResponse> r = Connect(Config(server))->Do(Ctx(), Get("/version"));
  EXPECT_EQ(r.status().code(), absl::StatusCode::kUnavailable) << r.status();
  EXPECT_TRUE(server.requests().empty());
}

TEST_P(TransportTest, ServerRequiringClientCertRefusesClientWithoutOne) {
  TlsTestServer server(server_cert_, ca_.cert_pem, [](const ServedRequest&, ServerConn& c) {
    c.Respond(200, "{}");
  });
  RestConfig config = Config(server);
  config.client_cert_pem.clear();
  config.client_key_pem.clear();
  absl::StatusOr<HttpResponse> r = Connect(config)->Do(Ctx(), Get("/version"));
  EXPECT_FALSE(r.ok());
  EXPECT_TRUE(server.requests().empty());
}

TEST_P(TransportTest, ConnectionRefusedIsUnavailable) {
  RestConfig config;
  config.server = "https://127.0.0.1:1";
  config.ca_pem = ca_.cert_pem;
  absl::StatusOr<HttpResponse> r = Connect(config)->Do(Ctx(), Get("/version"));
  EXPECT_EQ(r.status().code(), absl::StatusCode::kUnavailable) << r.status();
  EXPECT_TRUE(IsTransient(r.status()));
}

TEST_P(TransportTest, RejectsUnsafeOrBrokenConfigurations) {
  RestConfig config;
  config.server = "http://127.0.0.1:8080";
  EXPECT_EQ(New(config).status().code(), absl::StatusCode::kInvalidArgument);
  config.server = "https://127.0.0.1:6443";
  config.insecure = true;
  EXPECT_EQ(New(config).status().code(), absl::StatusCode::kInvalidArgument);
  config.insecure = false;
  config.server = "https://[::1]:6443";
  if (GetParam() == HttpLibrary::kCpprestsdk) {
    EXPECT_THAT(std::string(New(config).status().message()),
                HasSubstr("IPv6 address literals are not supported"));
  } else {
    EXPECT_TRUE(New(config).ok()) << New(config).status();
    config.server = "https://127.0.0.1:0";
    EXPECT_THAT(std::string(New(config).status().message()), HasSubstr("bad port"));
  }
  config.server = "https://127.0.0.1:6443";
  config.ca_pem = "not pem";
  EXPECT_THAT(std::string(New(config).status().message()),
              HasSubstr("CA is not a PEM certificate"));
  config.ca_pem = ca_.cert_pem;
  config.client_cert_pem = client_.cert_pem;
  config.client_key_pem = ca_.key_pem;
  EXPECT_THAT(std::string(New(config).status().message()),
              HasSubstr("does not match"));
}

TEST_P(TransportTest, StreamDeliversEachLineBeforeTheNextArrives) {
  std::promise<void> first_line_seen;
  std::shared_future<void> first_seen = first_line_seen.get_future().share();
  TlsTestServer server(server_cert_, "", [&](const ServedRequest&, ServerConn& c) {
    c.StartChunked();
    c.Chunk("{\"n\":1}\n{\"n\"");  // one whole line and the start of the next
    // The rest is only sent once the client has handled line 1: proves incremental reading.
    if (first_seen.wait_for(std::chrono::seconds(10)) != std::future_status::ready) return;
    c.Chunk(":2}\r\n\n{\"n\":3}");
    c.Chunk("\n{\"n\":4}");  // last line without a newline
    c.EndChunked();
  });
  std::vector<std::string> lines;
  absl::StatusOr<HttpResponse> r =
      Connect(Config(server))->Stream(Ctx(), Get("/watch"), [&](std::string_view line) {
        lines.emplace_back(line);
        if (lines.size() == 1) first_line_seen.set_value();
        return true;
      });
  ASSERT_TRUE(r.ok()) << r.status();
  EXPECT_EQ(r->status, 200);
  EXPECT_THAT(lines, ::testing::ElementsAre("{\"n\":1}", "{\"n\":2}", "", "{\"n\":3}",
                                            "{\"n\":4}"));
}

TEST_P(TransportTest, StreamStoppedByCallbackReturnsWithoutWaitingForTheServer) {
  TlsTestServer server(server_cert_, "", [](const ServedRequest&, ServerConn& c) {
    c.StartChunked();
    c.Chunk("line\n");
    // Keep the stream open (as a long watch would) until the client goes away.
    auto deadline = std::chrono::steady_clock::now() + std::chrono::seconds(20);
    while (std::chrono::steady_clock::now() < deadline && c.Chunk("\n")) {
      std::this_thread::sleep_for(std::chrono::milliseconds(20));
    }
  });
  auto start = std::chrono::steady_clock::now();
  absl::StatusOr<HttpResponse> r = Connect(Config(server))->Stream(Ctx(), Get("/watch"), [](std::string_view line) { return line.empty(); });
  EXPECT_TRUE(r.ok()) << r.status();
  EXPECT_LT(std::chrono::steady_clock::now() - start, std::chrono::seconds(10));
}

TEST_P(TransportTest, StreamNon2xxReturnsTheWholeBody) {
  const std::string gone = R"({"kind":"Status","reason":"Expired","code":410})";
  TlsTestServer server(server_cert_, "", [&](const ServedRequest&, ServerConn& c) {
    c.Respond(410, gone);
  });
  int calls = 0;
  absl::StatusOr<HttpResponse> r = Connect(Config(server))->Stream(Ctx(), Get("/watch"), [&](std::string_view) { ++calls; return true; });
  ASSERT_TRUE(r.ok()) << r.status();
  EXPECT_EQ(r->status, 410);
  EXPECT_EQ(r->body, gone);
  EXPECT_EQ(calls, 0);
}

TEST_P(TransportTest, StreamCutMidwayIsAnError) {
  TlsTestServer server(server_cert_, "", [](const ServedRequest&, ServerConn& c) {
    c.StartChunked();
    c.Chunk("{\"n\":1}\n");
    c.Close();  // without the terminating chunk
  });
  int calls = 0;
  absl::StatusOr<HttpResponse> r = Connect(Config(server))->Stream(Ctx(), Get("/watch"), [&](std::string_view) { ++calls; return true; });
  EXPECT_EQ(r.status().code(), absl::StatusCode::kUnavailable) << r.status();
  EXPECT_EQ(calls, 1);
}

TEST_P(TransportTest, StreamRefusesAnOverlongLine) {
  TlsTestServer server(server_cert_, "", [](const ServedRequest&, ServerConn& c) {
    c.StartChunked();
    const std::string block(1 << 20, 'x');
    for (size_t sent = 0; sent <= kMaxStreamLineBytes; sent += block.size()) {
      if (!c.Chunk(block)) return;
    }
    c.Chunk("\n");
    c.EndChunked();
  });
  absl::StatusOr<HttpResponse> r = Connect(Config(server))->Stream(Ctx(), Get("/watch"), [](std::string_view) { return true; });
  EXPECT_EQ(r.status().code(), absl::StatusCode::kResourceExhausted) << r.status();
}

TEST_P(TransportTest, OpenStreamDoesNotBlockOtherRequests) {
  std::promise<void> release;
  std::shared_future<void> released = release.get_future().share();
  std::promise<void> streaming;
  TlsTestServer server(server_cert_, "", [&](const ServedRequest& r, ServerConn& c) {
    if (r.target == "/watch") {
      c.StartChunked();
      c.Chunk("{}\n");
      released.wait_for(std::chrono::seconds(20));
      c.EndChunked();
    } else {
      c.Respond(200, "{\"ok\":true}");
    }
  });
  std::unique_ptr<kube::Transport> t = Connect(Config(server));
  std::thread watcher([&] {
    bool first = true;
    absl::StatusOr<HttpResponse> r = t->Stream(Ctx(), Get("/watch"), [&](std::string_view) {
      if (first) streaming.set_value();
      first = false;
      return true;
    });
    EXPECT_TRUE(r.ok()) << r.status();
  });
  streaming.get_future().wait();
  for (int i = 0; i < 3; ++i) {
    absl::StatusOr<HttpResponse> r = t->Do(Ctx(), Get("/api"));
    ASSERT_TRUE(r.ok()) << r.status();
    EXPECT_EQ(r->body, "{\"ok\":true}");
  }
  release.set_value();
  watcher.join();
}

TEST_P(TransportTest, RequestsReuseAKeptAliveConnection) {
  if (GetParam() == HttpLibrary::kCpprestsdk) {
    GTEST_SKIP() << "cpprestsdk pools a connection after the response is handed over, so a "
                    "request right after another may open a second one";
  }
  TlsTestServer server(server_cert_, "", [](const ServedRequest&, ServerConn& c) {
    c.Respond(200, "{}");
  });
  std::unique_ptr<kube::Transport> t = Connect(Config(server));
  for (int i = 0; i < 5; ++i) {
    absl::StatusOr<HttpResponse> r = t->Do(Ctx(), Get("/version"));
    ASSERT_TRUE(r.ok()) << r.status();
  }
  EXPECT_EQ(server.connections(), 1);
}

// The server closes each connection after its answer (as an apiserver going away, or an
// idle timeout, does) without saying so: the next request must not fail on the dead one.
TEST_P(TransportTest, AConnectionTheServerClosedIsNotUsedAgain) {
  TlsTestServer server(server_cert_, "", [](const ServedRequest& r, ServerConn& c) {
    c.Respond(r.method == "POST" ? 201 : 200, "{}");
    c.Close();
  });
  std::unique_ptr<kube::Transport> t = Connect(Config(server));
  for (const char* method : {"GET", "POST", "GET", "POST"}) {
    HttpRequest request = Get("/api/v1/namespaces/a/configmaps");
    request.method = method;
    // Give the server's close time to arrive, as it would between two reconciles.
    std::this_thread::sleep_for(std::chrono::milliseconds(50));
    absl::StatusOr<HttpResponse> r = t->Do(Ctx(), request);
    ASSERT_TRUE(r.ok()) << method << " " << r.status();
  }
  EXPECT_EQ(server.requests().size(), 4u);  // nothing sent twice
}

TEST_P(TransportTest, AServerUrlWithAPathPrefixesEveryRequest) {
  TlsTestServer server(server_cert_, "", [](const ServedRequest&, ServerConn& c) {
    c.Respond(200, "{}");
  });
  RestConfig config = Config(server);
  config.server += "/k8s/clusters/c-1/";
  absl::StatusOr<HttpResponse> r = Connect(config)->Do(Ctx(), Get("/api/v1/pods?limit=1"));
  ASSERT_TRUE(r.ok()) << r.status();
  ASSERT_EQ(server.requests().size(), 1u);
  EXPECT_EQ(server.requests()[0].target, "/k8s/clusters/c-1/api/v1/pods?limit=1");
}

TEST_P(TransportTest, AServerNamedByHostNameIsCheckedByThatName) {
  KeyPair by_name = MakeCert("apiserver", &ca_, false, "DNS:localhost");
  KeyPair other_name = MakeCert("apiserver", &ca_, false, "DNS:other.example,IP:127.0.0.1");
  for (const KeyPair* cert : {&by_name, &other_name}) {
    TlsTestServer server(*cert, "", [](const ServedRequest&, ServerConn& c) {
      c.Respond(200, "{}");
    });
    RestConfig config = Config(server);
    config.server = absl::StrCat("https://localhost:", server.port());
    absl::StatusOr<HttpResponse> r = Connect(config)->Do(Ctx(), Get("/version"));
    if (cert == &by_name) {
      EXPECT_TRUE(r.ok()) << r.status();
    } else {
      EXPECT_EQ(r.status().code(), absl::StatusCode::kUnavailable) << r.status();
      EXPECT_TRUE(server.requests().empty());
    }
  }
}

// A hung apiserver (accepts, never answers): each call ends at its deadline or when
// cancelled. Before deadlines reached the transport, a call waited for cpprestsdk's 30 s
// receive timeout, and a watch for its timeoutSeconds + 30 s.
class HungApiserverTest : public TransportTest {
 protected:
  std::unique_ptr<Transport> ConnectToHung() {
    RestConfig config;
    config.server = hung_.url();
    config.ca_pem = ca_.cert_pem;
    config.bearer_token = "tok";
    return Connect(config);
  }
  static std::chrono::steady_clock::duration Since(std::chrono::steady_clock::time_point t) {
    return std::chrono::steady_clock::now() - t;
  }
  testing::SilentServer hung_;
};

TEST_P(HungApiserverTest, RequestEndsAtItsDeadline) {
  std::unique_ptr<Transport> t = ConnectToHung();
  const auto start = std::chrono::steady_clock::now();
  absl::StatusOr<HttpResponse> r =
      t->Do(Context().WithTimeout(std::chrono::milliseconds(300)), Get("/version"));
  EXPECT_EQ(r.status().code(), absl::StatusCode::kDeadlineExceeded) << r.status();
  EXPECT_LT(Since(start), std::chrono::seconds(5));
  EXPECT_GE(hung_.accepted(), 1);  // it did connect: the wait was on the silent server
}

TEST_P(HungApiserverTest, CancelEndsARequestAndAStream) {
  std::unique_ptr<Transport> t = ConnectToHung();
  for (bool stream : {false, true}) {
    CancelSource stop;
    std::thread canceller([&] {
      std::this_thread::sleep_for(std::chrono::milliseconds(200));
      stop.Cancel();
    });
    const auto start = std::chrono::steady_clock::now();
    absl::StatusOr<HttpResponse> r =
        stream ? t->Stream(stop.context(), Get("/watch"), [](std::string_view) { return true; })
               : t->Do(stop.context(), Get("/version"));
    canceller.join();
    EXPECT_EQ(r.status().code(), absl::StatusCode::kCancelled) << stream << " " << r.status();
    EXPECT_LT(Since(start), std::chrono::seconds(5)) << stream;
  }
}

TEST_P(TransportTest, CancelEndsAStreamWaitingForItsNextLine) {
  std::promise<void> client_gone;
  std::shared_future<void> gone = client_gone.get_future().share();
  TlsTestServer server(server_cert_, "", [&](const ServedRequest&, ServerConn& c) {
    c.StartChunked();
    c.Chunk("{\"n\":1}\n");
    gone.wait_for(std::chrono::seconds(60));  // then silence, as a quiet watch
  });
  CancelSource stop;
  std::vector<std::string> lines;
  const auto start = std::chrono::steady_clock::now();
  absl::StatusOr<HttpResponse> r =
      Connect(Config(server))->Stream(stop.context(), Get("/watch"), [&](std::string_view line) {
        lines.emplace_back(line);
        stop.Cancel();  // e.g. Reflector::RequestStop from another thread
        return true;
      });
  client_gone.set_value();
  EXPECT_EQ(r.status().code(), absl::StatusCode::kCancelled) << r.status();
  EXPECT_EQ(lines.size(), 1u);
  EXPECT_LT(std::chrono::steady_clock::now() - start, std::chrono::seconds(5));
}

INSTANTIATE_TEST_SUITE_P(Libraries, TransportTest, kLibraries, LibraryName);
INSTANTIATE_TEST_SUITE_P(Libraries, RotatingTokenTest, kLibraries, LibraryName);
INSTANTIATE_TEST_SUITE_P(Libraries, HungApiserverTest, kLibraries, LibraryName);

}  // namespace
}  // namespace coderun::kube
