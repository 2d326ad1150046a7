#include "informer/indexer.h"

#include <functional>
#include <memory>
#include <thread>

#include "common/testing/eventually.h"
#include "gmock/gmock.h"
#include "gtest/gtest.h"
#include "informer/informer.h"
#include "kube/testing/fake_client.h"

namespace coderun::informer {
namespace {

using coderun::testing::Eventually;

using std::chrono::milliseconds;
using ::testing::ElementsAre;
using ::testing::IsEmpty;

struct Item {
  std::string ns, color;
  std::vector<std::string> tags;
};

std::vector<std::string> ByColor(const Item& i) {
  return i.color.empty() ? std::vector<std::string>{} : std::vector<std::string>{i.color};
}
std::vector<std::string> ByTag(const Item& i) { return i.tags; }

std::vector<std::string> KeysOf(const Indices<Item>& idx, const std::string& name,
                                const std::string& value) {
  const std::set<std::string>* keys = idx.Keys(name, value);
  return keys ? std::vector<std::string>(keys->begin(), keys->end()) : std::vector<std::string>{};
}

TEST(IndicesTest, AddFilesUnderEveryValueAndNoneForAnEmptyList) {
  Indices<Item> idx;
  ASSERT_TRUE(idx.Add("color", ByColor));
  ASSERT_TRUE(idx.Add("tag", ByTag));
  Item a{"ns", "red", {"x", "y"}}, b{"ns", "", {"y"}};
  idx.Update("ns/a", nullptr, &a);
  idx.Update("ns/b", nullptr, &b);
  EXPECT_THAT(KeysOf(idx, "color", "red"), ElementsAre("ns/a"));
  EXPECT_THAT(idx.Values("color"), ElementsAre("red"));  // b has no color: not filed
  EXPECT_THAT(KeysOf(idx, "tag", "y"), ElementsAre("ns/a", "ns/b"));
  EXPECT_THAT(KeysOf(idx, "tag", "x"), ElementsAre("ns/a"));
  EXPECT_EQ(idx.Keys("nope", "red"), nullptr);
}

TEST(IndicesTest, UpdateMovesTheKeyBetweenBucketsAndDropsEmptyOnes) {
  Indices<Item> idx;
  idx.Add("color", ByColor);
  Item red{"ns", "red", {}}, blue{"ns", "blue", {}};
  idx.Update("ns/a", nullptr, &red);
  idx.Update("ns/a", &red, &blue);
  EXPECT_EQ(idx.Keys("color", "red"), nullptr);
  EXPECT_THAT(KeysOf(idx, "color", "blue"), ElementsAre("ns/a"));
  EXPECT_THAT(idx.Values("color"), ElementsAre("blue"));
}

TEST(IndicesTest, DeleteRemovesTheKeyFromEveryIndex) {
  Indices<Item> idx;
  idx.Add("color", ByColor);
  idx.Add("tag", ByTag);
  Item a{"ns", "red", {"x"}}, b{"ns", "red", {}};
  idx.Update("ns/a", nullptr, &a);
  idx.Update("ns/b", nullptr, &b);
  idx.Update("ns/a", &a, nullptr);
  EXPECT_THAT(KeysOf(idx, "color", "red"), ElementsAre("ns/b"));
  EXPECT_THAT(idx.Values("tag"), IsEmpty());
}

TEST(IndicesTest, DuplicateNameOrEmptyFunctionIsRefused) {
  Indices<Item> idx;
  EXPECT_TRUE(idx.Add("color", ByColor));
  EXPECT_FALSE(idx.Add("color", ByTag));
  EXPECT_FALSE(idx.Add("empty", nullptr));
  EXPECT_FALSE(idx.Has("empty"));
}

// ---- the same through an Informer: watch updates, deletes and relists --------------------

const kube::Resource& kRes = kube::kCodeRuns;

absl::StatusOr<Item> DecodeItem(const kube::json& j) {
  Item i;
  i.ns = j["metadata"].value("namespace", "");
  i.color = j.value("color", "");
  return i;
}

kube::json MakeItem(const std::string& ns, const std::string& name, const std::string& color) {
  return {{"metadata", {{"namespace", ns}, {"name", name}}}, {"color", color}};
}

class InformerIndexTest : public ::testing::Test {
 protected:
  std::unique_ptr<Informer<Item>> Make() {
    InformerOptions o;
    o.resource = kRes;
    o.page_size = 2;
    o.watch_timeout_seconds = 8;
    o.backoff_initial = milliseconds(5);
    o.backoff_max = milliseconds(50);
    auto inf = std::make_unique<Informer<Item>>(client_, o, DecodeItem, RealClock());
    inf->AddIndexer("color", ByColor);
    return inf;
  }
  static std::vector<std::string> Colors(const std::vector<std::shared_ptr<const Item>>& items) {
    std::vector<std::string> out;
    for (const auto& i : items) out.push_back(i->ns + ":" + i->color);
    return out;
  }
  FakeClient client_;
};

TEST_F(InformerIndexTest, ListAndWatchUpdatesMoveObjectsBetweenBuckets) {
  client_.Put(kRes, MakeItem("a", "x", "red"));
  client_.Put(kRes, MakeItem("b", "y", "red"));
  client_.Put(kRes, MakeItem("a", "z", "blue"));
  auto inf = Make();
  inf->Start();
  ASSERT_TRUE(Eventually([&] { return inf->HasSynced(); }));
  EXPECT_THAT(inf->IndexKeys("color", "red"), ElementsAre("a/x", "b/y"));
  EXPECT_THAT(Colors(inf->ByIndex("color", "red")), ElementsAre("a:red", "b:red"));
  EXPECT_EQ(inf->IndexCount("color", "blue"), 1u);

  client_.Put(kRes, MakeItem("a", "x", "blue"));  // MODIFIED: red -> blue
  ASSERT_TRUE(Eventually([&] { return inf->IndexCount("color", "blue") == 2; }));
  EXPECT_THAT(inf->IndexKeys("color", "red"), ElementsAre("b/y"));
  EXPECT_THAT(inf->IndexKeys("color", "blue"), ElementsAre("a/x", "a/z"));
}

TEST_F(InformerIndexTest, DeleteTakesTheObjectOutOfItsBucket) {
  client_.Put(kRes, MakeItem("a", "x", "red"));
  auto inf = Make();
  inf->Start();
  ASSERT_TRUE(Eventually([&] { return inf->HasSynced(); }));
  client_.Erase(kRes, "a", "x");
  ASSERT_TRUE(Eventually([&] { return inf->Get("a/x") == nullptr; }));
  EXPECT_THAT(inf->IndexKeys("color", "red"), IsEmpty());
  EXPECT_THAT(inf->ByIndex("color", "red"), IsEmpty());
}

TEST_F(InformerIndexTest, RelistReplacesTheIndexWithTheCache) {
  client_.Put(kRes, MakeItem("a", "stays", "red"));
  client_.Put(kRes, MakeItem("a", "vanishes", "red"));
  auto inf = Make();
  inf->Start();
  ASSERT_TRUE(Eventually([&] { return inf->HasSynced(); }));
  ASSERT_EQ(inf->IndexCount("color", "red"), 2u);

  // The delete is lost behind a compaction: only the relist after 410 can see it.
  ASSERT_TRUE(client_.EraseWithoutEvent(kRes, "a", "vanishes"));
  client_.InjectWatchFault(WatchFault::kGoneStatus);
  ASSERT_TRUE(Eventually([&] { return inf->stats().relists_gone >= 1; }));
  ASSERT_TRUE(Eventually([&] { return inf->IndexCount("color", "red") == 1; }));
  EXPECT_THAT(inf->IndexKeys("color", "red"), ElementsAre("a/stays"));
  EXPECT_THAT(inf->ByIndex("color", "red").size(), 1u);
}

TEST_F(InformerIndexTest, UnknownIndexIsEmptyAndLateIndexerIsIgnored) {
  client_.Put(kRes, MakeItem("a", "x", "red"));
  auto inf = Make();
  inf->Start();
  ASSERT_TRUE(Eventually([&] { return inf->HasSynced(); }));
  inf->AddIndexer("late", ByTag);
  EXPECT_THAT(inf->IndexKeys("late", "red"), IsEmpty());
  EXPECT_THAT(inf->ByIndex("nope", "red"), IsEmpty());
  EXPECT_EQ(inf->IndexCount("color", "red"), 1u);
}

}  // namespace
}  // namespace coderun::informer
