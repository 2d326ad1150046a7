#include "informer/informer.h"

#include <functional>
#include <mutex>
#include <thread>

#include "common/testing/eventually.h"
#include "gmock/gmock.h"
#include "gtest/gtest.h"
#include "kube/testing/fake_client.h"

namespace coderun::informer {
namespace {

using coderun::testing::Eventually;

using std::chrono::milliseconds;
using ::testing::ElementsAre;
using ::testing::IsEmpty;
using ::testing::UnorderedElementsAre;

const kube::Resource& kRes = kube::kCodeRuns;

struct Obj {
  std::string value;
  bool saw_dropped_key = false;
};

absl::StatusOr<Obj> DecodeObj(const kube::json& j) {
  if (j.contains("bad")) return absl::InvalidArgumentError("bad object");
  Obj o;
  o.value = j.value("value", "");
  o.saw_dropped_key = j.contains("big");
  return o;
}

kube::json MakeObj(const std::string& ns, const std::string& name, const std::string& value) {
  return {{"metadata", {{"namespace", ns}, {"name", name}}}, {"value", value}, {"big", "xxx"}};
}

// Records handler calls as "add k v", "update k a->b", "delete k v".
class Recorder {
 public:
  Handler<Obj> handler() {
    return [this](const std::string& key, const Obj* old_obj, const Obj* new_obj) {
      std::string e;
      if (!old_obj) e = "add " + key + " " + new_obj->value;
      else if (!new_obj) e = "delete " + key + " " + old_obj->value;
      else e = "update " + key + " " + old_obj->value + "->" + new_obj->value;
      std::lock_guard lock(mu_);
      events_.push_back(e);
    };
  }
  std::vector<std::string> events() const {
    std::lock_guard lock(mu_);
    return events_;
  }
  void clear() {
    std::lock_guard lock(mu_);
    events_.clear();
  }

 private:
  mutable std::mutex mu_;
  std::vector<std::string> events_;
};

class InformerTest : public ::testing::Test {
 protected:
  InformerOptions Options() {
    InformerOptions o;
    o.resource = kRes;
    o.namespaces = {"a"};
    o.drop_keys = {"/big"};
    o.page_size = 2;
    o.watch_timeout_seconds = 8;
    o.backoff_initial = milliseconds(5);
    o.backoff_max = milliseconds(50);
    return o;
  }
  std::unique_ptr<Informer<Obj>> Make(InformerOptions o) {
    auto inf = std::make_unique<Informer<Obj>>(client_, std::move(o), DecodeObj, RealClock());
    inf->AddHandler(recorder_.handler());
    return inf;
  }
  std::string Value(const Informer<Obj>& inf, const std::string& key) {
    auto o = inf.Get(key);
    return o ? o->value : "<none>";
  }

  FakeClient client_;
  Recorder recorder_;
};

TEST(KeyTest, KeyOfAndSplitKey) {
  EXPECT_EQ(KeyOf(MakeObj("ns", "n", "")), "ns/n");
  EXPECT_EQ(KeyOf({{"metadata", {{"name", "node1"}}}}), "node1");
  EXPECT_EQ(KeyOf({{"metadata", {{"namespace", "x"}}}}), "");
  EXPECT_EQ(KeyOf(kube::json::array()), "");
  EXPECT_EQ(SplitKey("ns/n"), std::make_pair(std::string("ns"), std::string("n")));
  EXPECT_EQ(SplitKey("node1"), std::make_pair(std::string(""), std::string("node1")));
}

TEST_F(InformerTest, InitialPagedListPopulatesCacheAndSyncs) {
  for (auto n : {"p1", "p2", "p3", "p4", "p5"}) client_.Put(kRes, MakeObj("a", n, n));
  client_.Put(kRes, MakeObj("other", "x", "x"));  // not watched
  auto inf = Make(Options());
  EXPECT_FALSE(inf->HasSynced());
  inf->Start();
  ASSERT_TRUE(Eventually([&] { return inf->HasSynced(); }));

  EXPECT_EQ(inf->List().size(), 5u);
  EXPECT_EQ(Value(*inf, "a/p3"), "p3");
  EXPECT_FALSE(inf->Get("a/p3")->saw_dropped_key);
  EXPECT_EQ(inf->Get("other/x"), nullptr);
  EXPECT_THAT(recorder_.events(), UnorderedElementsAre("add a/p1 p1", "add a/p2 p2", "add a/p3 p3",
                                                       "add a/p4 p4", "add a/p5 p5"));
  auto lists = client_.list_calls();
  ASSERT_EQ(lists.size(), 3u);  // 2 + 2 + 1
  EXPECT_EQ(lists[0].options.limit, 2);
  EXPECT_EQ(lists[0].options.continue_token, "");
  EXPECT_NE(lists[1].options.continue_token, "");
  EXPECT_NE(lists[2].options.continue_token, lists[1].options.continue_token);
  EXPECT_EQ(lists[0].ns, "a");
}

TEST_F(InformerTest, WatchEventsUpdateCacheAndFireHandlersWithOldAndNew) {
  client_.Put(kRes, MakeObj("a", "x", "v1"));
  auto inf = Make(Options());
  inf->Start();
  ASSERT_TRUE(Eventually([&] { return inf->HasSynced(); }));
  recorder_.clear();

  client_.Put(kRes, MakeObj("a", "x", "v2"));
  client_.Put(kRes, MakeObj("a", "y", "w1"));
  client_.Erase(kRes, "a", "x");
  ASSERT_TRUE(Eventually([&] { return recorder_.events().size() == 3; }));
  EXPECT_THAT(recorder_.events(), ElementsAre("update a/x v1->v2", "add a/y w1", "delete a/x v2"));
  EXPECT_EQ(inf->Get("a/x"), nullptr);
  EXPECT_EQ(Value(*inf, "a/y"), "w1");
  auto watches = client_.watch_calls();
  ASSERT_FALSE(watches.empty());
  EXPECT_TRUE(watches[0].options.allow_bookmarks);
  EXPECT_GE(watches[0].options.timeout_seconds, 8);
  EXPECT_LE(watches[0].options.timeout_seconds, 10);  // 25% jitter at most
}

TEST_F(InformerTest, BookmarkMovesResourceVersionForTheNextWatch) {
  auto inf = Make(Options());
  inf->Start();
  ASSERT_TRUE(Eventually([&] { return inf->HasSynced(); }));
  const std::string bookmark = client_.Bookmark(kRes);
  // The fake server ends each watch after 50 ms; the next one must resume at the bookmark.
  ASSERT_TRUE(Eventually([&] {
    auto w = client_.watch_calls();  // may still be empty: HasSynced comes before the watch
    return !w.empty() && w.back().options.resource_version == bookmark;
  }));
  EXPECT_EQ(client_.list_calls().size(), 1u);
  EXPECT_THAT(recorder_.events(), IsEmpty());
  EXPECT_GE(inf->stats().watch_restarts, 1);
}

// 410 as the watch's returned status or as an ERROR event: both relist.
class GoneTest : public InformerTest, public ::testing::WithParamInterface<WatchFault> {};

TEST_P(GoneTest, RelistsAndEmitsDeletesForObjectsRemovedMeanwhile) {
  client_.Put(kRes, MakeObj("a", "keep", "k"));
  client_.Put(kRes, MakeObj("a", "gone", "g"));
  auto inf = Make(Options());
  inf->Start();
  ASSERT_TRUE(Eventually([&] { return inf->HasSynced(); }));
  recorder_.clear();

  ASSERT_TRUE(client_.EraseWithoutEvent(kRes, "a", "gone"));  // lost behind compaction
  client_.InjectWatchFault(GetParam());
  ASSERT_TRUE(Eventually([&] { return inf->stats().relists_gone == 1; }));
  ASSERT_TRUE(Eventually([&] { return client_.list_calls().size() == 2; }));
  // Handlers run just after the cache changes: wait for the notification itself.
  ASSERT_TRUE(Eventually([&] { return !recorder_.events().empty(); }));
  EXPECT_EQ(inf->Get("a/gone"), nullptr);
  EXPECT_THAT(recorder_.events(), ElementsAre("delete a/gone g"));  // "keep" unchanged: silent
  EXPECT_EQ(Value(*inf, "a/keep"), "k");
  EXPECT_TRUE(inf->HasSynced());
}

INSTANTIATE_TEST_SUITE_P(StatusOrEvent, GoneTest,
                         ::testing::Values(WatchFault::kGoneStatus, WatchFault::kGoneEvent));

TEST_F(InformerTest, CompactedResourceVersionRelists) {
  auto inf = Make(Options());
  inf->Start();
  ASSERT_TRUE(Eventually([&] { return inf->HasSynced(); }));
  client_.Put(kRes, MakeObj("a", "n", "1"));
  ASSERT_TRUE(Eventually([&] { return inf->Get("a/n") != nullptr; }));
  client_.EraseWithoutEvent(kRes, "a", "none");  // moves the resourceVersion on unseen
  client_.Compact();  // the informer's resourceVersion is now too old
  ASSERT_TRUE(Eventually([&] { return inf->stats().relists_gone == 1; }));
  client_.Put(kRes, MakeObj("a", "n", "2"));
  ASSERT_TRUE(Eventually([&] { return Value(*inf, "a/n") == "2"; }));
}

TEST_F(InformerTest, GarbageEventRelistsWithoutCrashing) {
  client_.Put(kRes, MakeObj("a", "x", "1"));
  auto inf = Make(Options());
  inf->Start();
  ASSERT_TRUE(Eventually([&] { return inf->HasSynced(); }));
  client_.InjectWatchFault(WatchFault::kGarbage);
  ASSERT_TRUE(Eventually([&] { return inf->stats().relists_error == 1; }));
  ASSERT_TRUE(Eventually([&] { return client_.list_calls().size() == 2; }));
  client_.Put(kRes, MakeObj("a", "x", "2"));
  ASSERT_TRUE(Eventually([&] { return Value(*inf, "a/x") == "2"; }));
  EXPECT_EQ(inf->stats().relists_gone, 0);
}

TEST_F(InformerTest, DisconnectBacksOffAndResumesFromLastResourceVersionWithoutRelist) {
  InformerOptions o = Options();
  o.backoff_initial = milliseconds(60);
  auto inf = Make(o);
  inf->Start();
  ASSERT_TRUE(Eventually([&] { return inf->HasSynced(); }));
  const std::string seen_rv = client_.Put(kRes, MakeObj("a", "x", "1"))["metadata"]["resourceVersion"];
  ASSERT_TRUE(Eventually([&] { return inf->Get("a/x") != nullptr; }));

  client_.InjectWatchFault(WatchFault::kDisconnect);
  ASSERT_TRUE(Eventually([&] { return inf->stats().watch_errors == 1; }));
  size_t failed = 0;
  while (client_.watch_calls()[failed].fault != WatchFault::kDisconnect) ++failed;
  ASSERT_TRUE(Eventually([&] { return client_.watch_calls().size() > failed + 1; }));
  auto watches = client_.watch_calls();
  EXPECT_EQ(watches[failed].options.resource_version, seen_rv);
  EXPECT_EQ(watches[failed + 1].options.resource_version, seen_rv);
  EXPECT_GE(watches[failed + 1].at - watches[failed].at, milliseconds(60));  // backed off
  EXPECT_EQ(client_.list_calls().size(), 1u);
  EXPECT_EQ(inf->stats().relists_gone + inf->stats().relists_error, 0);
}

TEST_F(InformerTest, ContinueTokenExpiryRestartsTheListFromScratch) {
  for (auto n : {"p1", "p2", "p3", "p4", "p5"}) client_.Put(kRes, MakeObj("a", n, n));
  client_.ExpireNextContinue();
  auto inf = Make(Options());
  inf->Start();
  ASSERT_TRUE(Eventually([&] { return inf->HasSynced(); }));
  auto lists = client_.list_calls();
  ASSERT_EQ(lists.size(), 5u);  // page 1, page 2 (410), then 3 pages from scratch
  EXPECT_EQ(lists[2].options.continue_token, "");
  EXPECT_EQ(inf->List().size(), 5u);
  EXPECT_EQ(recorder_.events().size(), 5u);  // only the adds of the completed list
}

TEST_F(InformerTest, UndecodableObjectsAreSkippedAndTreatedAsAbsent) {
  client_.Put(kRes, MakeObj("a", "ok", "1"));
  auto bad = MakeObj("a", "bad", "1");
  bad["bad"] = true;
  client_.Put(kRes, bad);
  auto inf = Make(Options());
  inf->Start();
  ASSERT_TRUE(Eventually([&] { return inf->HasSynced(); }));
  EXPECT_EQ(inf->Get("a/bad"), nullptr);
  auto ok_now_bad = MakeObj("a", "ok", "2");
  ok_now_bad["bad"] = true;
  client_.Put(kRes, ok_now_bad);
  ASSERT_TRUE(Eventually([&] { return recorder_.events().size() == 2; }));
  EXPECT_EQ(inf->Get("a/ok"), nullptr);
  EXPECT_THAT(recorder_.events(), ElementsAre("add a/ok 1", "delete a/ok 1"));
}

TEST_F(InformerTest, ListFailuresAreRetriedAndCountsPerNamespace) {
  client_.FailNextList(absl::UnavailableError("down"));
  client_.Put(kRes, MakeObj("a", "x", "1"));
  client_.Put(kRes, MakeObj("b", "y", "1"));
  InformerOptions o = Options();
  o.namespaces = {"b", "a"};
  auto inf = Make(o);
  inf->Start();
  ASSERT_TRUE(Eventually([&] { return inf->HasSynced(); }));
  EXPECT_EQ(inf->stats().list_errors, 1);
  EXPECT_EQ(inf->List().size(), 2u);
  EXPECT_EQ(client_.list_calls().size(), 3u);
}

TEST_F(InformerTest, StopReturnsPromptlyDuringBackoff) {
  InformerOptions o = Options();
  o.backoff_initial = std::chrono::seconds(30);
  o.backoff_max = std::chrono::seconds(30);
  client_.FailNextList(absl::UnavailableError("down"));
  auto inf = Make(o);
  inf->Start();
  ASSERT_TRUE(Eventually([&] { return inf->stats().list_errors == 1; }));
  auto start = std::chrono::steady_clock::now();
  inf->Stop();
  // Well inside the 30 s backoff: Stop() woke the wait rather than sleeping through it.
  EXPECT_LT(std::chrono::steady_clock::now() - start, std::chrono::seconds(15));
  EXPECT_FALSE(inf->HasSynced());
  inf->Stop();  // idempotent
}

TEST_F(InformerTest, StopWaitsAtMostForTheOpenWatchToEnd) {
  client_.set_watch_duration(milliseconds(300));  // a silent server's watch timeout
  auto inf = Make(Options());
  inf->Start();
  ASSERT_TRUE(Eventually([&] { return !client_.watch_calls().empty(); }));
  auto start = std::chrono::steady_clock::now();
  inf.reset();  // destructor stops
  // Bounded by the watch's own timeout (no hang); generous for a loaded machine.
  EXPECT_LT(std::chrono::steady_clock::now() - start, std::chrono::seconds(10));
}

}  // namespace
}  // namespace coderun::informer
