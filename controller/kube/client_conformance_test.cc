// One suite, two backends: every case runs against the in-memory FakeClient that unit tests
// use and against the real HTTP client (NewClient over a FakeTransport answering as the
// apiserver does on the wire). A case is written once against ScriptedServer; a drift of
// the fake from the real client fails here rather than in a test that trusted the fake.
#include <map>
#include <memory>
#include <string>
#include <vector>

#include "absl/strings/str_split.h"
#include "gmock/gmock.h"
#include "gtest/gtest.h"
#include "kube/client.h"
#include "kube/errors.h"
#include "kube/http_client.h"
#include "kube/testing/fake_client.h"
#include "kube/testing/fake_transport.h"
#include "kube/testing/fake_websocket.h"

namespace coderun::kube {
namespace {

using ::testing::ElementsAre;
using ::testing::IsEmpty;

// How a scripted watch ends once its events are delivered.
enum class WatchEnd {
  kNormal,         // the server closes the stream (timeoutSeconds reached)
  kGoneEvent,      // an ERROR event carrying a 410 metav1.Status (events come first)
  kGoneStatus,     // the watch is refused with HTTP 410 (script no events)
  kMalformedLine,  // a line that is not a watch event (events come first)
  kDisconnect,     // the connection drops (script no events)
};

struct ScriptedEvent {
  std::string type;  // ADDED, MODIFIED, DELETED (with `object`) or BOOKMARK
  json object;
};

// "The API server" behind a Client, as a test case scripts it.
class ScriptedServer {
 public:
  virtual ~ScriptedServer() = default;
  virtual Client& client() = 0;
  // Stores `object` (in its metadata.namespace) as a create would: with a uid and a
  // resourceVersion. Returns the stored object.
  virtual json SetObject(const Resource& r, json object) = 0;
  // The next List call that carries a continue token finds it expired.
  virtual void ExpireNextContinue() = 0;
  // Applies `events` to the store and makes the next watch from the returned
  // resourceVersion deliver them in order, then end as `end` says.
  virtual std::string ScriptWatch(const Resource& r, const std::vector<ScriptedEvent>& events,
                                  WatchEnd end) = 0;
  virtual void SetPodLog(const std::string& ns, const std::string& pod, std::string text) = 0;
  // The stdin bytes the last successful attach to `ns/pod` delivered ("" if none).
  virtual std::string AttachedStdin(const std::string& ns, const std::string& pod) = 0;
};

// ---- backend 1: FakeClient ---------------------------------------------------------------

class FakeBackend final : public ScriptedServer {
 public:
  FakeBackend() { fake_.set_watch_duration(std::chrono::milliseconds(1)); }
  Client& client() override { return fake_; }
  json SetObject(const Resource& r, json object) override { return fake_.Put(r, object); }
  void ExpireNextContinue() override { fake_.ExpireNextContinue(); }
  std::string ScriptWatch(const Resource& r, const std::vector<ScriptedEvent>& events,
                          WatchEnd end) override {
    const std::string from = fake_.resource_version();
    for (const ScriptedEvent& e : events) {
      if (e.type == "BOOKMARK") {
        fake_.Bookmark(r);
      } else if (e.type == "DELETED") {
        const json& meta = e.object["metadata"];
        fake_.Erase(r, meta.value("namespace", ""), meta.value("name", ""));
      } else {
        fake_.Put(r, e.object);
      }
    }
    switch (end) {
      case WatchEnd::kNormal:
        break;
      case WatchEnd::kGoneEvent:
        fake_.InjectWatchFault(informer::WatchFault::kGoneEvent);
        break;
      case WatchEnd::kGoneStatus:
        fake_.InjectWatchFault(informer::WatchFault::kGoneStatus);
        break;
      case WatchEnd::kMalformedLine:
        fake_.InjectWatchFault(informer::WatchFault::kGarbage);
        break;
      case WatchEnd::kDisconnect:
        fake_.InjectWatchFault(informer::WatchFault::kDisconnect);
        break;
    }
    return from;
  }
  void SetPodLog(const std::string& ns, const std::string& pod, std::string text) override {
    fake_.SetPodLog(ns, pod, std::move(text));
  }
  std::string AttachedStdin(const std::string& ns, const std::string& pod) override {
    std::string data;
    for (const auto& call : fake_.attach_calls()) {
      if (call.ns == ns && call.pod == pod && call.status.ok()) data = call.data;
    }
    return data;
  }

 private:
  informer::FakeClient fake_;
};

// ---- backend 2: the HTTP client over canned apiserver responses ---------------------------

std::string UrlUnescape(std::string_view text) {
  std::string out;
  for (size_t i = 0; i < text.size(); ++i) {
    if (text[i] == '%' && i + 2 < text.size()) {
      out.push_back(static_cast<char>(std::stoi(std::string(text.substr(i + 1, 2)), nullptr, 16)));
      i += 2;
    } else {
      out.push_back(text[i]);
    }
  }
  return out;
}

// A minimal apiserver for the requests the cases send, answering with the bodies a real one
// sends (metav1.Status on errors, *List objects with metadata.continue, newline-delimited
// watch events). Watches ignore their resourceVersion and play the script.
class HttpBackend final : public ScriptedServer {
 public:
  HttpBackend() {
    auto transport = std::make_unique<FakeTransport>();
    transport->SetHandler([this](const HttpRequest& request) { return Serve(request); });
    transport->SetUpgradeHandler(
        [this](const HttpRequest& request, const std::vector<std::string>&) {
          return ServeUpgrade(request);
        });
    client_ = NewClient(std::move(transport), ClientOptions{.qps = 0, .burst = 1});
  }
  Client& client() override { return *client_; }
  json SetObject(const Resource& r, json object) override {
    std::lock_guard lock(mu_);
    return StoreLocked(r.plural, std::move(object), /*created=*/true);
  }
  void ExpireNextContinue() override {
    std::lock_guard lock(mu_);
    expire_continue_ = true;
  }
  std::string ScriptWatch(const Resource& r, const std::vector<ScriptedEvent>& events,
                          WatchEnd end) override {
    std::lock_guard lock(mu_);
    const std::string from = std::to_string(rv_);
    watch_lines_.clear();
    for (const ScriptedEvent& e : events) {
      json object;
      if (e.type == "BOOKMARK") {
        object = {{"kind", "Pod"}, {"apiVersion", "v1"},
                  {"metadata", {{"resourceVersion", std::to_string(++rv_)}}}};
      } else if (e.type == "DELETED") {
        auto& objects = store_[r.plural];
        auto it = objects.find(KeyOf(e.object));
        object = it->second;
        objects.erase(it);
        object["metadata"]["resourceVersion"] = std::to_string(++rv_);
      } else {
        object = StoreLocked(r.plural, e.object, e.type == "ADDED");
      }
      watch_lines_.push_back(json{{"type", e.type}, {"object", object}}.dump());
    }
    watch_end_ = end;
    if (end == WatchEnd::kGoneEvent) {
      watch_lines_.push_back(
          json{{"type", "ERROR"},
               {"object", StatusBody(410, "Expired", "too old resource version: 1 (" +
                                                          std::to_string(rv_) + ")")}}
              .dump());
    } else if (end == WatchEnd::kMalformedLine) {
      watch_lines_.push_back(R"j({"type":"ADDED","obj)j");
    }
    return from;
  }
  void SetPodLog(const std::string& ns, const std::string& pod, std::string text) override {
    std::lock_guard lock(mu_);
    logs_[ns + "/" + pod] = std::move(text);
  }
  std::string AttachedStdin(const std::string& ns, const std::string& pod) override {
    std::lock_guard lock(mu_);
    auto it = attached_.find(ns + "/" + pod);
    return it == attached_.end() ? "" : it->second->stdin_data;
  }

 private:
  using Reply = FakeTransport::Reply;

  static json StatusBody(int code, const std::string& reason, const std::string& message) {
    return {{"kind", "Status"}, {"apiVersion", "v1"},     {"metadata", json::object()},
            {"status", "Failure"}, {"message", message}, {"reason", reason},
            {"code", code}};
  }
  static Reply Error(int code, const std::string& reason, const std::string& message) {
    return {HttpResponse{code, StatusBody(code, reason, message).dump()}, {}};
  }
  static Reply Ok(int code, const json& body) { return {HttpResponse{code, body.dump()}, {}}; }
  static std::string KeyOf(const json& object) {
    const json& meta = object["metadata"];
    return meta.value("namespace", "") + "/" + meta.value("name", "");
  }

  json StoreLocked(const std::string& plural, json object, bool created) {
    json& meta = object["metadata"];
    if (created) {
      meta["uid"] = "uid-" + std::to_string(++uids_);
      meta["generation"] = 1;
    }
    meta["resourceVersion"] = std::to_string(++rv_);
    store_[plural][KeyOf(object)] = object;
    return object;
  }

  // A request's resource, namespace, name and subresource, from its path.
  struct Target {
    std::string plural, ns, name, sub;
    std::map<std::string, std::string> query;
  };
  static Target Parse(const std::string& path_and_query) {
    Target t;
    std::pair<std::string, std::string> pq = absl::StrSplit(path_and_query, absl::MaxSplits('?', 1));
    for (absl::string_view kv : absl::StrSplit(pq.second, '&', absl::SkipEmpty())) {
      std::pair<std::string, std::string> p = absl::StrSplit(kv, absl::MaxSplits('=', 1));
      t.query[p.first] = UrlUnescape(p.second);
    }
    std::vector<std::string> seg = absl::StrSplit(pq.first, '/', absl::SkipEmpty());
    size_t i = seg[0] == "api" ? 2 : 3;  // past /api/v1 or /apis/<group>/<version>
    if (i + 2 < seg.size() && seg[i] == "namespaces") {
      t.ns = UrlUnescape(seg[i + 1]);
      i += 2;
    }
    t.plural = seg[i];
    if (i + 1 < seg.size()) t.name = UrlUnescape(seg[i + 1]);
    if (i + 2 < seg.size()) t.sub = seg[i + 2];
    return t;
  }

  Reply Serve(const HttpRequest& request) {
    std::lock_guard lock(mu_);
    Target t = Parse(request.path_and_query);
    auto& objects = store_[t.plural];
    const std::string key = t.ns + "/" + t.name;
    const std::string not_found = t.plural + " \"" + t.name + "\" not found";
    if (request.method == "GET" && t.sub == "log") {
      auto it = logs_.find(key);
      if (it == logs_.end()) return Error(404, "NotFound", not_found);
      return {HttpResponse{200, it->second}, {}};
    }
    if (request.method == "GET" && !t.name.empty()) {
      auto it = objects.find(key);
      if (it == objects.end()) return Error(404, "NotFound", not_found);
      return Ok(200, it->second);
    }
    if (request.method == "GET" && t.query.contains("watch")) {
      switch (watch_end_) {
        case WatchEnd::kGoneStatus:
          return Error(410, "Expired", "too old resource version");
        case WatchEnd::kDisconnect:
          return {absl::UnavailableError("connection reset by peer"), {}};
        default:
          return {HttpResponse{200, ""}, std::exchange(watch_lines_, {})};
      }
    }
    if (request.method == "GET") return List(t, objects);
    if (request.method == "POST") {
      json object = json::parse(request.body);
      object["metadata"]["namespace"] = t.ns;
      const std::string name = object["metadata"].value("name", "");
      if (objects.contains(t.ns + "/" + name)) {
        return Error(409, "AlreadyExists", t.plural + " \"" + name + "\" already exists");
      }
      return Ok(201, StoreLocked(t.plural, std::move(object), true));
    }
    auto it = objects.find(key);
    if (it == objects.end()) return Error(404, "NotFound", not_found);
    const json& old = it->second;
    const std::string conflict = "Operation cannot be fulfilled on " + t.plural + " \"" +
                                 t.name + "\": the object has been modified; please apply " +
                                 "your changes to the latest version and try again";
    if (request.method == "DELETE") {
      json options = json::parse(request.body);
      if (options.contains("preconditions") &&
          options["preconditions"]["uid"] != old["metadata"]["uid"]) {
        return Error(409, "Conflict", "Precondition failed: UID in precondition: " +
                                          options["preconditions"]["uid"].get<std::string>());
      }
      objects.erase(it);
      return Ok(200, {{"kind", "Status"}, {"apiVersion", "v1"}, {"status", "Success"}});
    }
    json body = json::parse(request.body);
    const json rv = body["metadata"].value("resourceVersion", json());
    if (!rv.is_null() && rv != old["metadata"]["resourceVersion"]) {
      return Error(409, "Conflict", conflict);
    }
    json next = old;
    if (request.method == "PATCH") {
      next.merge_patch(t.sub == "status" ? json{{"status", body.value("status", json())}} : body);
    } else if (t.sub == "status") {  // PUT .../status: only the status changes
      next["status"] = body.value("status", json());
    } else {  // PUT: everything but the status
      body["metadata"]["uid"] = old["metadata"]["uid"];
      body["metadata"]["namespace"] = t.ns;
      if (old.contains("status")) body["status"] = old["status"];
      next = std::move(body);
    }
    return Ok(200, StoreLocked(t.plural, std::move(next), false));
  }

  // pods/<name>/attach as the apiserver checks it before upgrading (registry/core/pod
  // streamLocation), then a session as its translator runs one.
  absl::StatusOr<UpgradeResponse> ServeUpgrade(const HttpRequest& request) {
    std::lock_guard lock(mu_);
    Target t = Parse(request.path_and_query);
    auto refuse = [](int code, const std::string& reason, const std::string& message) {
      return UpgradeResponse{code, StatusBody(code, reason, message).dump(), nullptr};
    };
    auto it = store_["pods"].find(t.ns + "/" + t.name);
    if (t.sub != "attach" || it == store_["pods"].end()) {
      return refuse(404, "NotFound", "pods \"" + t.name + "\" not found");
    }
    bool found = false;
    for (const json& c : it->second["spec"]["containers"]) {
      found = found || c.value("name", "") == t.query["container"];
    }
    if (!found) {
      return refuse(400, "BadRequest", "container " + t.query["container"] +
                                           " is not valid for pod " + t.name);
    }
    auto session = std::make_shared<testing::AttachSession>();
    attached_[t.ns + "/" + t.name] = session;
    return testing::FakeUpgrade({}, session);
  }

  Reply List(const Target& t, const std::map<std::string, json>& objects) {
    std::string after;
    if (auto c = t.query.find("continue"); c != t.query.end()) {
      if (expire_continue_) {
        expire_continue_ = false;
        return Error(410, "Expired",
                     "The provided continue parameter is too old to display a consistent "
                     "list result. You can start a new list without the continue parameter.");
      }
      after = c->second.substr(c->second.find(':') + 1);  // "opaque:<last key>"
    }
    const int limit = t.query.contains("limit") ? std::stoi(t.query.at("limit")) : 0;
    json items = json::array();
    std::string last, next;
    for (const auto& [key, object] : objects) {
      if (!after.empty() && key <= after) continue;
      if (!t.ns.empty() && object["metadata"].value("namespace", "") != t.ns) continue;
      if (limit > 0 && static_cast<int>(items.size()) == limit) {
        next = "opaque:" + last;
        break;
      }
      items.push_back(object);
      last = key;
    }
    json meta = {{"resourceVersion", std::to_string(rv_)}};
    if (!next.empty()) meta["continue"] = next;
    return Ok(200, {{"kind", "PodList"}, {"apiVersion", "v1"}, {"metadata", meta},
                    {"items", items}});
  }

  std::unique_ptr<Client> client_;
  std::mutex mu_;
  // All guarded by mu_.
  std::map<std::string, std::map<std::string, json>> store_;  // plural -> "ns/name" -> object
  std::map<std::string, std::string> logs_;
  std::map<std::string, std::shared_ptr<testing::AttachSession>> attached_;  // "ns/pod"
  std::vector<std::string> watch_lines_;
  WatchEnd watch_end_ = WatchEnd::kNormal;
  bool expire_continue_ = false;
  long rv_ = 100;
  long uids_ = 0;
};

// ---- the cases ---------------------------------------------------------------------------

json PodJson(const std::string& ns, const std::string& name) {
  return {{"apiVersion", "v1"},
          {"kind", "Pod"},
          {"metadata", {{"namespace", ns}, {"name", name}, {"managedFields", {{{"x", 1}}}}}},
          {"spec", {{"containers", {{{"name", "c"}, {"managedFields", "nested"}}}}}}};
}

// True when the object's /metadata/managedFields was dropped (kDrop names only that path).
bool ManagedFieldsDropped(const json& object) {
  return !object.contains("metadata") || !object["metadata"].contains("managedFields");
}

std::string Name(const json& object) { return object["metadata"].value("name", ""); }
std::string Rv(const json& object) { return object["metadata"].value("resourceVersion", ""); }

// The same API error, whichever backend: status code, HTTP code and reason.
void ExpectApiError(const absl::Status& s, absl::StatusCode code, int http, const char* reason) {
  EXPECT_EQ(s.code(), code) << s;
  EXPECT_EQ(HttpCode(s), http) << s;
  EXPECT_EQ(Reason(s), reason) << s;
}

const DropKeys kDrop = {"/metadata/managedFields"};

template <typename Backend>
class ClientConformanceTest : public ::testing::Test {
 protected:
  Backend server_;
  Client& client() { return server_.client(); }
};

using Backends = ::testing::Types<FakeBackend, HttpBackend>;
class BackendNames {
 public:
  template <typename T>
  static std::string GetName(int) {
    return std::is_same_v<T, FakeBackend> ? "FakeClient" : "HttpClient";
  }
};
TYPED_TEST_SUITE(ClientConformanceTest, Backends, BackendNames);

TYPED_TEST(ClientConformanceTest, GetReturnsTheStoredObjectWithoutDroppedKeys) {
  json stored = this->server_.SetObject(kPods, PodJson("a", "p"));
  absl::StatusOr<json> got = this->client().Get({}, kPods, "a", "p", kDrop);
  ASSERT_TRUE(got.ok()) << got.status();
  EXPECT_EQ(Name(*got), "p");
  EXPECT_EQ(Rv(*got), Rv(stored));
  EXPECT_EQ((*got)["metadata"]["uid"], stored["metadata"]["uid"]);
  EXPECT_TRUE(ManagedFieldsDropped(*got)) << got->dump();
  EXPECT_EQ((*got)["spec"]["containers"][0]["name"], "c");
  EXPECT_EQ((*got)["spec"]["containers"][0]["managedFields"], "nested")
      << "only the named path is dropped";
}

TYPED_TEST(ClientConformanceTest, GetOfAMissingObjectIsNotFound) {
  absl::StatusOr<json> got = this->client().Get({}, kPods, "a", "nope");
  ExpectApiError(got.status(), absl::StatusCode::kNotFound, 404, "NotFound");
  EXPECT_TRUE(kube::IsNotFound(got.status()));
}

TYPED_TEST(ClientConformanceTest, EmptyNamesAreRefusedBeforeAnyRequest) {
  ExpectApiError(this->client().Get({}, kPods, "a", "").status(),
                 absl::StatusCode::kInvalidArgument, 0, "");
  ExpectApiError(this->client().MergePatch({}, kPods, "a", "", json::object()).status(),
                 absl::StatusCode::kInvalidArgument, 0, "");
  ExpectApiError(this->client().Delete({}, kPods, "a", ""), absl::StatusCode::kInvalidArgument, 0,
                 "");
  ExpectApiError(this->client().Update({}, kPods, "a", {{"metadata", json::object()}}).status(),
                 absl::StatusCode::kInvalidArgument, 0, "");
}

TYPED_TEST(ClientConformanceTest, ListPagesFollowContinueTokensToTheLastPage) {
  for (const char* n : {"p1", "p2", "p3", "p4", "p5"}) this->server_.SetObject(kPods, PodJson("a", n));
  this->server_.SetObject(kPods, PodJson("b", "other"));
  std::vector<std::string> names;
  std::vector<size_t> sizes;
  ListOptions opts;
  opts.limit = 2;
  for (int page = 0; page < 10; ++page) {
    absl::StatusOr<json> list = this->client().List({}, kPods, "a", opts, kDrop);
    ASSERT_TRUE(list.ok()) << list.status();
    EXPECT_FALSE(Rv(*list).empty());
    sizes.push_back((*list)["items"].size());
    for (const json& item : (*list)["items"]) {
      names.push_back(Name(item));
      EXPECT_TRUE(ManagedFieldsDropped(item));
    }
    opts.continue_token = (*list)["metadata"].value("continue", "");
    if (opts.continue_token.empty()) break;
  }
  EXPECT_THAT(sizes, ElementsAre(2, 2, 1));
  EXPECT_THAT(names, ElementsAre("p1", "p2", "p3", "p4", "p5"));
}

TYPED_TEST(ClientConformanceTest, UnpagedListOfAllNamespacesReturnsEverything) {
  this->server_.SetObject(kPods, PodJson("a", "p1"));
  this->server_.SetObject(kPods, PodJson("b", "p2"));
  absl::StatusOr<json> list = this->client().List({}, kPods, "", {});
  ASSERT_TRUE(list.ok()) << list.status();
  EXPECT_EQ((*list)["items"].size(), 2u);
  EXPECT_EQ((*list)["metadata"].value("continue", ""), "");
}

TYPED_TEST(ClientConformanceTest, ExpiredContinueTokenIsGone) {
  for (const char* n : {"p1", "p2", "p3"}) this->server_.SetObject(kPods, PodJson("a", n));
  ListOptions opts;
  opts.limit = 2;
  absl::StatusOr<json> first = this->client().List({}, kPods, "a", opts);
  ASSERT_TRUE(first.ok()) << first.status();
  opts.continue_token = (*first)["metadata"].value("continue", "");
  ASSERT_FALSE(opts.continue_token.empty());
  this->server_.ExpireNextContinue();
  absl::StatusOr<json> next = this->client().List({}, kPods, "a", opts);
  ExpectApiError(next.status(), absl::StatusCode::kFailedPrecondition, 410, "Expired");
  EXPECT_TRUE(IsGone(next.status()));
}

TYPED_TEST(ClientConformanceTest, CreateStoresTheObjectAndADuplicateIsAlreadyExists) {
  json pod = PodJson("", "p");
  pod["metadata"].erase("namespace");
  pod["metadata"].erase("managedFields");
  absl::StatusOr<json> created = this->client().Create({}, kPods, "a", pod);
  ASSERT_TRUE(created.ok()) << created.status();
  EXPECT_EQ((*created)["metadata"]["namespace"], "a");
  EXPECT_FALSE((*created)["metadata"].value("uid", "").empty());
  EXPECT_FALSE(Rv(*created).empty());
  absl::StatusOr<json> again = this->client().Create({}, kPods, "a", pod);
  ExpectApiError(again.status(), absl::StatusCode::kAlreadyExists, 409, "AlreadyExists");
  EXPECT_TRUE(kube::IsAlreadyExists(again.status()));
  EXPECT_FALSE(IsConflict(again.status()));
}

TYPED_TEST(ClientConformanceTest, UpdateWithAStaleResourceVersionIsConflict) {
  json stored = this->server_.SetObject(kPods, PodJson("a", "p"));
  json changed = stored;
  changed["spec"]["nodeName"] = "n1";
  absl::StatusOr<json> updated = this->client().Update({}, kPods, "a", changed);
  ASSERT_TRUE(updated.ok()) << updated.status();
  EXPECT_NE(Rv(*updated), Rv(stored));
  EXPECT_EQ((*updated)["spec"]["nodeName"], "n1");
  absl::StatusOr<json> stale = this->client().Update({}, kPods, "a", changed);  // old rv
  ExpectApiError(stale.status(), absl::StatusCode::kAborted, 409, "Conflict");
  EXPECT_TRUE(IsConflict(stale.status()));
  EXPECT_FALSE(kube::IsAlreadyExists(stale.status()));
}

TYPED_TEST(ClientConformanceTest, WritesReturnTheObjectWithoutItsManagedFields) {
  json stored = this->server_.SetObject(kPods, PodJson("a", "p"));
  absl::StatusOr<json> updated = this->client().Update({}, kPods, "a", stored);
  ASSERT_TRUE(updated.ok()) << updated.status();
  EXPECT_TRUE(ManagedFieldsDropped(*updated)) << updated->dump();
  EXPECT_EQ((*updated)["spec"]["containers"][0]["managedFields"], "nested");
  absl::StatusOr<json> patched =
      this->client().MergePatch({}, kPods, "a", "p", {{"metadata", {{"labels", {{"k", "v"}}}}}});
  ASSERT_TRUE(patched.ok()) << patched.status();
  EXPECT_TRUE(ManagedFieldsDropped(*patched)) << patched->dump();
  EXPECT_EQ((*patched)["metadata"]["labels"]["k"], "v");
  absl::StatusOr<json> created = this->client().Create({}, kPods, "a", PodJson("a", "q"));
  ASSERT_TRUE(created.ok()) << created.status();
  EXPECT_TRUE(ManagedFieldsDropped(*created)) << created->dump();
}

TYPED_TEST(ClientConformanceTest, UpdateOfAMissingObjectIsNotFound) {
  absl::StatusOr<json> updated = this->client().Update({}, kPods, "a", PodJson("a", "nope"));
  ExpectApiError(updated.status(), absl::StatusCode::kNotFound, 404, "NotFound");
}

TYPED_TEST(ClientConformanceTest, MergePatchChecksTheResourceVersionItCarries) {
  json stored = this->server_.SetObject(kPods, PodJson("a", "p"));
  json patch = {{"metadata", {{"resourceVersion", Rv(stored)}}},
                {"status", {{"phase", "Succeeded"}}}};
  absl::StatusOr<json> patched = this->client().MergePatch({}, kPods, "a", "p", patch, "status");
  ASSERT_TRUE(patched.ok()) << patched.status();
  EXPECT_EQ((*patched)["status"]["phase"], "Succeeded");
  absl::StatusOr<json> stale = this->client().MergePatch({}, kPods, "a", "p", patch, "status");
  ExpectApiError(stale.status(), absl::StatusCode::kAborted, 409, "Conflict");
  absl::StatusOr<json> unconditional =
      this->client().MergePatch({}, kPods, "a", "p", {{"metadata", {{"labels", {{"k", "v"}}}}}});
  ASSERT_TRUE(unconditional.ok()) << unconditional.status();
  EXPECT_EQ((*unconditional)["metadata"]["labels"]["k"], "v");
  ExpectApiError(this->client().MergePatch({}, kPods, "a", "nope", patch).status(),
                 absl::StatusCode::kNotFound, 404, "NotFound");
}

TYPED_TEST(ClientConformanceTest, DeleteHonoursTheUidPreconditionAndIsNotFoundTwice) {
  json stored = this->server_.SetObject(kPods, PodJson("a", "p"));
  DeleteOptions other;
  other.precondition_uid = "someone-else";
  ExpectApiError(this->client().Delete({}, kPods, "a", "p", other), absl::StatusCode::kAborted, 409,
                 "Conflict");
  DeleteOptions ours;
  ours.precondition_uid = stored["metadata"]["uid"].get<std::string>();
  EXPECT_TRUE(this->client().Delete({}, kPods, "a", "p", ours).ok());
  ExpectApiError(this->client().Delete({}, kPods, "a", "p"), absl::StatusCode::kNotFound, 404,
                 "NotFound");
  EXPECT_TRUE(kube::IsNotFound(this->client().Get({}, kPods, "a", "p").status()));
}

// Watches from `from`, collecting events; `stop_after` > 0 stops after that many.
struct Watched {
  absl::Status status;
  std::vector<WatchEvent> events;
  std::vector<std::string> types() const {
    std::vector<std::string> out;
    for (const WatchEvent& e : events) out.push_back(e.type);
    return out;
  }
};
Watched WatchFrom(Client& client, const std::string& from, size_t stop_after = 0) {
  Watched w;
  WatchOptions opts;
  opts.resource_version = from;
  opts.timeout_seconds = 5;
  w.status = client.Watch(
      {}, kPods, "a", opts,
      [&](WatchEvent&& e) {
        w.events.push_back(std::move(e));
        return stop_after == 0 || w.events.size() < stop_after;
      },
      kDrop);
  return w;
}

TYPED_TEST(ClientConformanceTest, WatchDeliversEventsInOrderIncludingBookmarks) {
  json modified = PodJson("a", "p");
  modified["spec"]["nodeName"] = "n1";
  std::string from = this->server_.ScriptWatch(kPods,
                                               {{"ADDED", PodJson("a", "p")},
                                                {"MODIFIED", modified},
                                                {"BOOKMARK", {}},
                                                {"DELETED", PodJson("a", "p")}},
                                               WatchEnd::kNormal);
  Watched w = WatchFrom(this->client(), from);
  EXPECT_TRUE(w.status.ok()) << w.status;
  ASSERT_THAT(w.types(), ElementsAre("ADDED", "MODIFIED", "BOOKMARK", "DELETED"));
  EXPECT_EQ(Name(w.events[0].object), "p");
  EXPECT_EQ(w.events[1].object["spec"]["nodeName"], "n1");
  EXPECT_FALSE(Rv(w.events[2].object).empty()) << "a bookmark carries the resourceVersion";
  EXPECT_GT(std::stol(Rv(w.events[2].object)), std::stol(Rv(w.events[1].object)));
  EXPECT_GT(std::stol(Rv(w.events[3].object)), std::stol(Rv(w.events[2].object)));
  for (const WatchEvent& e : w.events) EXPECT_TRUE(ManagedFieldsDropped(e.object));
}

TYPED_TEST(ClientConformanceTest, WatchErrorEventWithGoneEndsTheWatchAsGone) {
  std::string from =
      this->server_.ScriptWatch(kPods, {{"ADDED", PodJson("a", "p")}}, WatchEnd::kGoneEvent);
  Watched w = WatchFrom(this->client(), from);
  EXPECT_THAT(w.types(), ElementsAre("ADDED")) << "the ERROR event is the returned status";
  EXPECT_TRUE(IsGone(w.status)) << w.status;
  EXPECT_EQ(HttpCode(w.status), 410);
  EXPECT_EQ(w.status.code(), absl::StatusCode::kFailedPrecondition);
}

TYPED_TEST(ClientConformanceTest, WatchRefusedWithHttp410IsGone) {
  std::string from = this->server_.ScriptWatch(kPods, {}, WatchEnd::kGoneStatus);
  Watched w = WatchFrom(this->client(), from);
  EXPECT_THAT(w.events, IsEmpty());
  EXPECT_TRUE(IsGone(w.status)) << w.status;
  EXPECT_EQ(HttpCode(w.status), 410);
  EXPECT_EQ(w.status.code(), absl::StatusCode::kFailedPrecondition);
}

TYPED_TEST(ClientConformanceTest, WatchMalformedLineIsInvalidArgumentWithoutHttpCode) {
  std::string from =
      this->server_.ScriptWatch(kPods, {{"ADDED", PodJson("a", "p")}}, WatchEnd::kMalformedLine);
  Watched w = WatchFrom(this->client(), from);
  EXPECT_THAT(w.types(), ElementsAre("ADDED"));
  EXPECT_EQ(w.status.code(), absl::StatusCode::kInvalidArgument) << w.status;
  EXPECT_EQ(HttpCode(w.status), 0) << "not an API error: the caller relists";
}

TYPED_TEST(ClientConformanceTest, WatchDroppedConnectionIsUnavailable) {
  std::string from = this->server_.ScriptWatch(kPods, {}, WatchEnd::kDisconnect);
  Watched w = WatchFrom(this->client(), from);
  EXPECT_THAT(w.events, IsEmpty());
  EXPECT_EQ(w.status.code(), absl::StatusCode::kUnavailable) << w.status;
  EXPECT_TRUE(IsTransient(w.status));
}

TYPED_TEST(ClientConformanceTest, WatchEndsQuietlyWhenTheCallbackStops) {
  std::string from = this->server_.ScriptWatch(
      kPods, {{"ADDED", PodJson("a", "p1")}, {"ADDED", PodJson("a", "p2")}}, WatchEnd::kNormal);
  Watched w = WatchFrom(this->client(), from, /*stop_after=*/1);
  EXPECT_TRUE(w.status.ok()) << w.status;
  EXPECT_THAT(w.types(), ElementsAre("ADDED"));
}

TYPED_TEST(ClientConformanceTest, PodLogReturnsTheTextOrNotFound) {
  this->server_.SetPodLog("a", "p", "hello\n");
  absl::StatusOr<std::string> log = this->client().PodLog({}, "a", "p", "runner", 0);
  ASSERT_TRUE(log.ok()) << log.status();
  EXPECT_EQ(*log, "hello\n");
  ExpectApiError(this->client().PodLog({}, "a", "nope", "runner", 0).status(),
                 absl::StatusCode::kNotFound, 404, "NotFound");
}

TYPED_TEST(ClientConformanceTest, AttachStdinDeliversTheBytesToTheNamedContainer) {
  this->server_.SetObject(kPods, PodJson("a", "p"));
  std::string data(100 * 1024, '\0');
  for (size_t i = 0; i < data.size(); ++i) data[i] = static_cast<char>(i % 251);
  absl::Status s = this->client().AttachStdin({}, "a", "p", "c", data);
  ASSERT_TRUE(s.ok()) << s;
  EXPECT_TRUE(this->server_.AttachedStdin("a", "p") == data);
}

TYPED_TEST(ClientConformanceTest, AttachStdinRefusalsAreApiErrors) {
  this->server_.SetObject(kPods, PodJson("a", "p"));
  absl::Status missing = this->client().AttachStdin({}, "a", "nope", "c", "x");
  ExpectApiError(missing, absl::StatusCode::kNotFound, 404, "NotFound");
  EXPECT_EQ(missing.message(), "pods \"nope\" not found (HTTP 404, reason NotFound)");
  ExpectApiError(this->client().AttachStdin({}, "a", "p", "other", "x"),
                 absl::StatusCode::kInvalidArgument, 400, "BadRequest");
  EXPECT_EQ(this->server_.AttachedStdin("a", "p"), "");
}

}  // namespace
}  // namespace coderun::kube
