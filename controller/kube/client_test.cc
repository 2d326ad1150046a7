#include "kube/client.h"

#include <mutex>
#include <string>
#include <vector>

#include "gmock/gmock.h"
#include "gtest/gtest.h"
#include "kube/errors.h"
#include "kube/testing/fake_transport.h"
#include "kube/http_client.h"

namespace coderun::kube {
namespace {

using ::testing::HasSubstr;

constexpr char kGone[] =
    R"j({"type":"ERROR","object":{"kind":"Status","apiVersion":"v1","metadata":{},)j"
    R"j("status":"Failure","message":"too old resource version: 5 (100)","reason":"Expired",)j"
    R"j("code":410}})j";

class ClientTest : public ::testing::Test {
 protected:
  ClientTest() {
    auto transport = std::make_unique<FakeTransport>();
    fake_ = transport.get();
    client_ = NewClient(std::move(transport), ClientOptions{.qps = 0, .burst = 1});
  }
  FakeTransport* fake_;
  std::unique_ptr<Client> client_;
};

TEST(ResourcePathTest, CoreGroupNamedGroupsAndClusterScope) {
  EXPECT_EQ(kPods.Path("ns"), "/api/v1/namespaces/ns/pods");
  EXPECT_EQ(kPods.Path("ns", "p"), "/api/v1/namespaces/ns/pods/p");
  EXPECT_EQ(kPods.Path(""), "/api/v1/pods");
  EXPECT_EQ(kCodeRuns.Path("team-a", "run1"),
            "/apis/coderun.dev/v1alpha1/namespaces/team-a/coderuns/run1");
  EXPECT_EQ(kLeases.Path("kube-system", "coderun"),
            "/apis/coordination.k8s.io/v1/namespaces/kube-system/leases/coderun");
  const Resource namespaces{"", "v1", "namespaces", /*namespaced=*/false};
  EXPECT_EQ(namespaces.Path("ignored", "default"), "/api/v1/namespaces/default");
  EXPECT_EQ(namespaces.Path(""), "/api/v1/namespaces");
}

TEST(UrlEscapeTest, EscapesAllButUnreserved) {
  EXPECT_EQ(UrlEscape("aZ09-_.~"), "aZ09-_.~");
  EXPECT_EQ(UrlEscape("app in (a,b),!x"), "app%20in%20%28a%2Cb%29%2C%21x");
  EXPECT_EQ(UrlEscape("k=v&x/y?#%+"), "k%3Dv%26x%2Fy%3F%23%25%2B");
  EXPECT_EQ(UrlEscape("\xc3\xa9"), "%C3%A9");
}

TEST_F(ClientTest, GetSendsJsonHeadersAndUserAgent) {
  fake_->Respond(200, R"j({"metadata":{"name":"p","managedFields":[{}]}})j");
  absl::StatusOr<json> pod = client_->Get({}, kPods, "ns", "p", {"/metadata/managedFields"});
  ASSERT_TRUE(pod.ok()) << pod.status();
  EXPECT_EQ(*pod, json::parse(R"j({"metadata":{"name":"p"}})j"));
  HttpRequest r = fake_->last_request();
  EXPECT_EQ(r.method, "GET");
  EXPECT_EQ(r.path_and_query, "/api/v1/namespaces/ns/pods/p");
  EXPECT_EQ(r.headers["User-Agent"], "coderun-controller");
  EXPECT_EQ(r.headers["Accept"], "application/json");
  EXPECT_TRUE(r.body.empty());
}

TEST_F(ClientTest, ListEncodesEveryOption) {
  fake_->Respond(200, R"j({"kind":"PodList","metadata":{"resourceVersion":"7"},"items":[]})j");
  ListOptions opts{.label_selector = "app.kubernetes.io/managed-by=coderun-controller,x in (a,b)",
                   .field_selector = "status.phase!=Running",
                   .limit = 500,
                   .continue_token = "eyJ2IjoibWV0YS5rOHMuaW8vdjEiLCJydiI6MTB9+/=",
                   .resource_version = "0"};
  ASSERT_TRUE(client_->List({}, kPods, "", opts).ok());
  EXPECT_EQ(fake_->last_request().path_and_query,
            "/api/v1/pods?labelSelector=app.kubernetes.io%2Fmanaged-by%3Dcoderun-controller"
            "%2Cx%20in%20%28a%2Cb%29&fieldSelector=status.phase%21%3DRunning&limit=500"
            "&continue=eyJ2IjoibWV0YS5rOHMuaW8vdjEiLCJydiI6MTB9%2B%2F%3D&resourceVersion=0");
  fake_->Respond(200, R"j({"items":[]})j");
  ASSERT_TRUE(client_->List({}, kCodeRuns, "ns", {}).ok());
  EXPECT_EQ(fake_->last_request().path_and_query,
            "/apis/coderun.dev/v1alpha1/namespaces/ns/coderuns");
}

TEST_F(ClientTest, WritesUseTheRightVerbPathAndContentType) {
  json cm = {{"apiVersion", "v1"}, {"kind", "ConfigMap"}, {"metadata", {{"name", "c"}}}};
  for (int i = 0; i < 4; ++i) fake_->Respond(200, cm.dump());

  ASSERT_TRUE(client_->Create({}, kCodeRuns, "ns", cm).ok());
  HttpRequest r = fake_->last_request();
  EXPECT_EQ(r.method, "POST");
  EXPECT_EQ(r.path_and_query, "/apis/coderun.dev/v1alpha1/namespaces/ns/coderuns");
  EXPECT_EQ(r.headers["Content-Type"], "application/json");
  EXPECT_EQ(json::parse(r.body), cm);

  ASSERT_TRUE(client_->Update({}, kCodeRuns, "ns", cm).ok());
  EXPECT_EQ(fake_->last_request().method, "PUT");
  EXPECT_EQ(fake_->last_request().path_and_query,
            "/apis/coderun.dev/v1alpha1/namespaces/ns/coderuns/c");

  ASSERT_TRUE(client_->MergePatch({}, kCodeRuns, "ns", "c", {{"status", {{"phase", "Running"}}}},
                                  "status")
                  .ok());
  r = fake_->last_request();
  EXPECT_EQ(r.method, "PATCH");
  EXPECT_EQ(r.path_and_query, "/apis/coderun.dev/v1alpha1/namespaces/ns/coderuns/c/status");
  EXPECT_EQ(r.headers["Content-Type"], "application/merge-patch+json");
  EXPECT_EQ(json::parse(r.body), json::parse(R"j({"status":{"phase":"Running"}})j"));
}

TEST_F(ClientTest, UpdateWithoutNameIsRefusedWithoutARequest) {
  EXPECT_EQ(client_->Update({}, kPods, "ns", json::object()).status().code(),
            absl::StatusCode::kInvalidArgument);
  EXPECT_TRUE(fake_->requests().empty());
}

TEST_F(ClientTest, DeleteSendsPreconditionsAndPropagationPolicy) {
  fake_->Respond(200, R"j({"kind":"Status","status":"Success"})j");
  ASSERT_TRUE(client_->Delete({}, kPods, "ns", "p",
                              {.precondition_uid = "u-1", .propagation_policy = "Background"})
                  .ok());
  HttpRequest r = fake_->last_request();
  EXPECT_EQ(r.method, "DELETE");
  EXPECT_EQ(r.path_and_query, "/api/v1/namespaces/ns/pods/p");
  EXPECT_EQ(json::parse(r.body), json::parse(R"j({"kind":"DeleteOptions","apiVersion":"v1",
      "preconditions":{"uid":"u-1"},"propagationPolicy":"Background"})j"));

  fake_->Respond(404, R"j({"kind":"Status","reason":"NotFound","code":404,"message":"gone"})j");
  absl::Status s = client_->Delete({}, kPods, "ns", "p");
  EXPECT_TRUE(kube::IsNotFound(s)) << s;
  EXPECT_EQ(json::parse(fake_->last_request().body),
            json::parse(R"j({"kind":"DeleteOptions","apiVersion":"v1"})j"));
}

TEST_F(ClientTest, Non2xxBecomesApiErrorAndTransportErrorsPassThrough) {
  fake_->Respond(409, R"j({"kind":"Status","reason":"AlreadyExists","code":409,"message":"x"})j");
  absl::StatusOr<json> created = client_->Create({}, kPods, "ns", {{"metadata", {{"name", "p"}}}});
  EXPECT_TRUE(kube::IsAlreadyExists(created.status())) << created.status();

  fake_->Fail(absl::UnavailableError("connection refused"));
  absl::StatusOr<json> got = client_->Get({}, kPods, "ns", "p");
  EXPECT_EQ(got.status().code(), absl::StatusCode::kUnavailable);
  EXPECT_TRUE(IsTransient(got.status()));

  fake_->Respond(200, "{not json");
  EXPECT_EQ(client_->Get({}, kPods, "ns", "p").status().code(), absl::StatusCode::kInvalidArgument);
}

TEST_F(ClientTest, PodLogReturnsTextAndEncodesQuery) {
  fake_->Respond(200, "line 1\nline 2\n");
  absl::StatusOr<std::string> log = client_->PodLog({}, "ns", "p", "runner", 65536);
  ASSERT_TRUE(log.ok()) << log.status();
  EXPECT_EQ(*log, "line 1\nline 2\n");
  EXPECT_EQ(fake_->last_request().path_and_query,
            "/api/v1/namespaces/ns/pods/p/log?container=runner&limitBytes=65536");
}

TEST_F(ClientTest, WatchBuildsQueryAndDeliversEventsInOrder) {
  fake_->RespondStream({
      R"j({"type":"ADDED","object":{"metadata":{"name":"a","managedFields":[]}}})j",
      "",
      R"j({"type":"MODIFIED","object":{"metadata":{"name":"a"}}})j",
      R"j({"type":"BOOKMARK","object":{"metadata":{"resourceVersion":"12"}}})j",
      R"j({"type":"DELETED","object":{"metadata":{"name":"a"}}})j",
  });
  std::vector<WatchEvent> events;
  WatchOptions opts;
  opts.label_selector = "a=b";
  opts.resource_version = "10";
  opts.timeout_seconds = 290;
  absl::Status s = client_->Watch(
      {}, kPods, "ns", opts, [&](WatchEvent&& e) { events.push_back(std::move(e)); return true; },
      {"/metadata/managedFields"});
  EXPECT_TRUE(s.ok()) << s;
  ASSERT_EQ(events.size(), 4u);
  EXPECT_EQ(events[0].type, "ADDED");
  EXPECT_EQ(events[0].object, json::parse(R"j({"metadata":{"name":"a"}})j"));
  EXPECT_EQ(events[2].type, "BOOKMARK");
  EXPECT_EQ(events[3].type, "DELETED");
  HttpRequest r = fake_->last_request();
  EXPECT_EQ(r.path_and_query,
            "/api/v1/namespaces/ns/pods?watch=1&labelSelector=a%3Db&resourceVersion=10"
            "&timeoutSeconds=290&allowWatchBookmarks=true");
  // Bounded, but not before the server's own timeout.
  ASSERT_TRUE(fake_->last_deadline().has_value());
  EXPECT_GT(*fake_->last_deadline() - std::chrono::steady_clock::now(), std::chrono::seconds(290));
  EXPECT_EQ(r.headers["User-Agent"], "coderun-controller");
}

TEST_F(ClientTest, WatchErrorEventWith410IsGone) {
  fake_->RespondStream({R"j({"type":"ADDED","object":{"metadata":{"name":"a"}}})j", kGone,
                        R"j({"type":"ADDED","object":{"metadata":{"name":"never"}}})j"});
  int seen = 0;
  absl::Status s = client_->Watch({}, kPods, "ns", {}, [&](WatchEvent&&) { ++seen; return true; });
  EXPECT_TRUE(IsGone(s)) << s;
  EXPECT_EQ(HttpCode(s), 410);
  EXPECT_THAT(std::string(s.message()), HasSubstr("too old resource version"));
  EXPECT_EQ(seen, 1);
  EXPECT_EQ(fake_->lines_delivered(), 2u);  // stopped reading at the ERROR event
}

// A drop path of the watched resource never reaches the ERROR event's Status.
TEST_F(ClientTest, WatchErrorEventKeepsItsCodeWithDropPaths) {
  fake_->RespondStream({kGone});
  absl::Status s = client_->Watch({}, kCodeRuns, "ns", {}, [](WatchEvent&&) { return true; },
                                  {"/spec/code", "/status/stdout", "/metadata/annotations"});
  EXPECT_TRUE(IsGone(s)) << s;
  EXPECT_EQ(HttpCode(s), 410);
}

TEST_F(ClientTest, ListDropPathsApplyToEachItem) {
  fake_->Respond(200, R"j({"kind":"PodList","metadata":{"resourceVersion":"3"},"items":[)j"
                      R"j({"metadata":{"name":"a","managedFields":[1]}},)j"
                      R"j({"metadata":{"name":"b","managedFields":[2]}}]})j");
  absl::StatusOr<json> list = client_->List({}, kPods, "ns", {}, {"/metadata/managedFields"});
  ASSERT_TRUE(list.ok()) << list.status();
  EXPECT_EQ((*list)["items"], json::parse(R"j([{"metadata":{"name":"a"}},{"metadata":{"name":"b"}}])j"));
  EXPECT_EQ((*list)["metadata"]["resourceVersion"], "3");
}

TEST_F(ClientTest, WatchRefusedWith410IsGone) {
  fake_->Respond(410, R"j({"kind":"Status","reason":"Expired","code":410,"message":"old"})j");
  absl::Status s = client_->Watch({}, kPods, "ns", {}, [](WatchEvent&&) { return true; });
  EXPECT_TRUE(IsGone(s)) << s;
}

TEST_F(ClientTest, WatchGarbageLineIsInvalidArgument) {
  fake_->RespondStream({R"j({"type":"ADDED","object":{}})j", "{\"type\":\"ADD"});
  absl::Status s = client_->Watch({}, kPods, "ns", {}, [](WatchEvent&&) { return true; });
  EXPECT_EQ(s.code(), absl::StatusCode::kInvalidArgument) << s;
}

TEST_F(ClientTest, WatchStopsWhenCallbackReturnsFalse) {
  fake_->RespondStream({R"j({"type":"ADDED","object":{}})j", R"j({"type":"ADDED","object":{}})j"});
  int seen = 0;
  absl::Status s = client_->Watch({}, kPods, "", {}, [&](WatchEvent&&) { ++seen; return false; });
  EXPECT_TRUE(s.ok()) << s;
  EXPECT_EQ(seen, 1);
  EXPECT_EQ(fake_->lines_delivered(), 1u);
}

TEST_F(ClientTest, WatchDroppedConnectionIsUnavailable) {
  fake_->Fail(absl::UnavailableError("connection reset"));
  absl::Status s = client_->Watch({}, kPods, "", {}, [](WatchEvent&&) { return true; });
  EXPECT_EQ(s.code(), absl::StatusCode::kUnavailable);
}

TEST(ClientRateLimitTest, EveryRequestIncludingWatchWaitsOnTheLimiter) {
  class CountingClock final : public Clock {
   public:
    SteadyTime Now() const override { return SteadyTime(); }
    WallTime WallNow() const override { return WallTime(); }
  } clock;
  int sleeps = 0;
  auto limiter = std::make_shared<RateLimiter>(1, 1, clock,
                                               [&](const Context&, std::chrono::nanoseconds) {
                                                 ++sleeps;
                                                 return true;
                                               });
  auto transport = std::make_unique<FakeTransport>();
  FakeTransport* fake = transport.get();
  std::unique_ptr<Client> client = NewClient(std::move(transport), limiter);
  fake->SetHandler([](const HttpRequest&) {
    return FakeTransport::Reply{HttpResponse{200, "{}"}, {}};
  });
  ASSERT_TRUE(client->Get({}, kPods, "ns", "a").ok());  // takes the burst token
  ASSERT_TRUE(client->List({}, kPods, "ns", {}).ok());
  ASSERT_TRUE(client->Create({}, kPods, "ns", json::object()).ok());
  ASSERT_TRUE(client->MergePatch({}, kPods, "ns", "a", json::object()).ok());
  ASSERT_TRUE(client->Delete({}, kPods, "ns", "a").ok());
  ASSERT_TRUE(client->PodLog({}, "ns", "a", "", 0).ok());
  ASSERT_TRUE(client->Watch({}, kPods, "ns", {}, [](WatchEvent&&) { return true; }).ok());
  EXPECT_EQ(sleeps, 6);
  EXPECT_EQ(fake->requests().size(), 7u);
}

TEST(ClientObserverTest, EveryRequestIsReportedWithItsVerbAndCode) {
  std::mutex mu;
  std::vector<std::string> seen;
  auto transport = std::make_unique<FakeTransport>();
  FakeTransport* fake = transport.get();
  ClientOptions options{.qps = 0, .burst = 1};
  options.on_request = [&](const std::string& verb, const std::string& code,
                           std::optional<double> seconds) {
    std::lock_guard lock(mu);
    // Every answered request has a duration; a watch (a stream) has none.
    seen.push_back(verb + " " + code + (seconds ? (*seconds >= 0 ? " timed" : " negative") : ""));
  };
  std::unique_ptr<Client> client = NewClient(std::move(transport), options);
  fake->Respond(200, "{}");
  fake->Respond(200, R"({"items":[]})");
  fake->Respond(201, "{}");
  fake->Respond(409, R"({"kind":"Status","reason":"Conflict","code":409})");
  fake->Respond(200, "{}");
  fake->Respond(404, R"({"kind":"Status","reason":"NotFound","code":404})");
  fake->Respond(200, "log");
  fake->RespondStream({});
  fake->Fail(absl::UnavailableError("connection refused"));
  fake->Respond(410, R"({"kind":"Status","reason":"Expired","code":410})");
  EXPECT_TRUE(client->Get({}, kPods, "ns", "a").ok());
  EXPECT_TRUE(client->List({}, kPods, "ns", {}).ok());
  EXPECT_TRUE(client->Create({}, kPods, "ns", json::object()).ok());
  EXPECT_FALSE(client->Update({}, kPods, "ns", {{"metadata", {{"name", "a"}}}}).ok());
  EXPECT_TRUE(client->MergePatch({}, kPods, "ns", "a", json::object(), "status").ok());
  EXPECT_FALSE(client->Delete({}, kPods, "ns", "a").ok());
  EXPECT_TRUE(client->PodLog({}, "ns", "a", "", 0).ok());
  auto ignore = [](WatchEvent&&) { return true; };
  EXPECT_TRUE(client->Watch({}, kPods, "ns", {}, ignore).ok());
  EXPECT_FALSE(client->Get({}, kPods, "ns", "a").ok());
  EXPECT_FALSE(client->Watch({}, kPods, "ns", {}, ignore).ok());
  // Refused before sending: not a request.
  EXPECT_FALSE(client->Get({}, kPods, "ns", "").ok());
  EXPECT_THAT(seen, ::testing::ElementsAre("get 200 timed", "list 200 timed", "create 201 timed",
                                           "update 409 timed", "patch 200 timed", "delete 404 timed", "log 200 timed",
                                           "watch 200", "get error timed", "watch 410"));
}

}  // namespace
}  // namespace coderun::kube

namespace coderun::kube {
namespace {

TEST(ClientFieldManagerTest, EveryWriteNamesTheFieldManagerAndReadsDoNot) {
  auto transport = std::make_unique<FakeTransport>();
  FakeTransport* fake = transport.get();
  std::unique_ptr<Client> client = NewClient(
      std::move(transport), ClientOptions{.qps = 0, .burst = 1, .field_manager = "ctl@host_7"});
  for (int i = 0; i < 4; ++i) fake->Respond(200, "{}");
  const json pod = {{"metadata", {{"name", "p"}}}};
  ASSERT_TRUE(client->Create({}, kPods, "ns", pod).ok());
  EXPECT_EQ(fake->last_request().path_and_query, "/api/v1/namespaces/ns/pods?fieldManager=ctl%40host_7");
  ASSERT_TRUE(client->Update({}, kPods, "ns", pod).ok());
  EXPECT_EQ(fake->last_request().path_and_query, "/api/v1/namespaces/ns/pods/p?fieldManager=ctl%40host_7");
  ASSERT_TRUE(client->MergePatch({}, kPods, "ns", "p", json::object(), "status").ok());
  EXPECT_EQ(fake->last_request().path_and_query,
            "/api/v1/namespaces/ns/pods/p/status?fieldManager=ctl%40host_7");
  ASSERT_TRUE(client->Get({}, kPods, "ns", "p").ok());
  EXPECT_EQ(fake->last_request().path_and_query, "/api/v1/namespaces/ns/pods/p");
}

}  // namespace
}  // namespace coderun::kube
