#include "kube/object.h"

#include "gtest/gtest.h"

namespace coderun::kube {
namespace {

using nlohmann::json;

TEST(ResourceVersionOfTest, ReadsMetadataOfObjectsAndLists) {
  EXPECT_EQ(ResourceVersionOf(json::parse(R"({"metadata":{"resourceVersion":"42"}})")), "42");
  EXPECT_EQ(ResourceVersionOf(json::parse(
                R"({"kind":"PodList","metadata":{"resourceVersion":"7"},"items":[]})")),
            "7");
}

TEST(ResourceVersionOfTest, AnythingElseIsEmpty) {
  for (const char* text : {R"({})", R"({"metadata":null})", R"({"metadata":[]})",
                           R"({"metadata":{"resourceVersion":42}})", R"([1])", R"("x")",
                           "null"}) {
    EXPECT_EQ(ResourceVersionOf(json::parse(text)), "") << text;
  }
}

}  // namespace
}  // namespace coderun::kube
