#include "app/placement.h"

#include <gtest/gtest.h>

namespace coderun::app {
namespace {

using nlohmann::json;

// A refusal is InvalidArgument, one line, naming the flag.
void ExpectRefused(const absl::Status& st, const std::string& flag, const std::string& why) {
  EXPECT_EQ(st.code(), absl::StatusCode::kInvalidArgument) << st;
  const std::string message(st.message());
  EXPECT_EQ(message.find('\n'), std::string::npos) << message;
  EXPECT_NE(message.find(flag), std::string::npos) << message;
  EXPECT_NE(message.find(why), std::string::npos) << message;
}

TEST(NamesTest, LabelKeysValuesAndSubdomains) {
  EXPECT_TRUE(IsDnsSubdomain("regcred"));
  EXPECT_TRUE(IsDnsSubdomain("a.b-c.d"));
  EXPECT_FALSE(IsDnsSubdomain("Regcred"));
  EXPECT_FALSE(IsDnsSubdomain("-x"));
  EXPECT_FALSE(IsDnsSubdomain("a..b"));
  EXPECT_FALSE(IsDnsSubdomain(std::string(254, 'a')));
  EXPECT_TRUE(IsQualifiedName("pool"));
  EXPECT_TRUE(IsQualifiedName("node.kubernetes.io/instance-type"));
  EXPECT_TRUE(IsQualifiedName("Pool_A.b"));
  EXPECT_FALSE(IsQualifiedName(""));
  EXPECT_FALSE(IsQualifiedName("/pool"));
  EXPECT_FALSE(IsQualifiedName("Example.com/pool"));
  EXPECT_FALSE(IsQualifiedName("a/b/c"));
  EXPECT_FALSE(IsQualifiedName(std::string(64, 'a')));
  EXPECT_TRUE(IsLabelValue(""));
  EXPECT_TRUE(IsLabelValue("sandbox-1"));
  EXPECT_FALSE(IsLabelValue("a b"));
  EXPECT_FALSE(IsLabelValue("x-"));
}

TEST(NodeSelectorTest, KeyValuePairsBecomeAMap) {
  auto m = ParseNodeSelector({"pool=sandbox", "kubernetes.io/arch=amd64", "empty="});
  ASSERT_TRUE(m.ok()) << m.status();
  EXPECT_EQ(m->size(), 3u);
  EXPECT_EQ(m->at("pool"), "sandbox");
  EXPECT_EQ(m->at("kubernetes.io/arch"), "amd64");
  EXPECT_EQ(m->at("empty"), "");
}

TEST(NodeSelectorTest, BadFormsAreRefusedWithOneLine) {
  ExpectRefused(ParseNodeSelector({"pool"}).status(), "--node-selector", "KEY=VALUE");
  ExpectRefused(ParseNodeSelector({"=x"}).status(), "--node-selector", "label key");
  ExpectRefused(ParseNodeSelector({"pool=a b"}).status(), "--node-selector", "label value");
  ExpectRefused(ParseNodeSelector({"po\nol=x"}).status(), "--node-selector", "label key");
  ExpectRefused(ParseNodeSelector({"pool=a", "pool=b"}).status(), "--node-selector", "twice");
}

TEST(TolerationsTest, ArrayIsKeptAsGiven) {
  const std::string text =
      R"([{"key":"sandbox","operator":"Equal","value":"true","effect":"NoSchedule"},
          {"operator":"Exists"},
          {"key":"node.kubernetes.io/unreachable","operator":"Exists","effect":"NoExecute",
           "tolerationSeconds":60}])";
  auto t = ParseTolerations(text);
  ASSERT_TRUE(t.ok()) << t.status();
  EXPECT_EQ(*t, json::parse(text));
  auto none = ParseTolerations("");
  ASSERT_TRUE(none.ok());
  EXPECT_TRUE(none->is_array() && none->empty());
}

TEST(TolerationsTest, InvalidJsonOrShapeIsRefusedWithOneLine) {
  ExpectRefused(ParseTolerations("[{\"key\":\n").status(), "--tolerations", "not valid JSON");
  ExpectRefused(ParseTolerations(R"({"key":"a"})").status(), "--tolerations", "JSON array");
  ExpectRefused(ParseTolerations(R"(["a"])").status(), "--tolerations", "not an object");
  ExpectRefused(ParseTolerations(R"([{"keys":"a"}])").status(), "--tolerations", "unknown field");
  ExpectRefused(ParseTolerations(R"([{"key":1}])").status(), "--tolerations", "not a string");
  ExpectRefused(ParseTolerations(R"([{"key":"a","operator":"In"}])").status(), "--tolerations",
                "operator");
  ExpectRefused(ParseTolerations(R"([{"key":"a","effect":"Never"}])").status(), "--tolerations",
                "effect");
  ExpectRefused(ParseTolerations(R"([{"value":"a"}])").status(), "--tolerations",
                "needs operator Exists");
  ExpectRefused(ParseTolerations(R"([{"key":"a","operator":"Exists","value":"b"}])").status(),
                "--tolerations", "takes no value");
  ExpectRefused(ParseTolerations(R"([{"key":"a","tolerationSeconds":5}])").status(),
                "--tolerations", "NoExecute");
  ExpectRefused(ParseTolerations(R"([{"key":"a","effect":"NoExecute","tolerationSeconds":"5"}])")
                    .status(),
                "--tolerations", "not an integer");
}

TEST(CheckPlacementTest, FillsSettingsAndChecksNames) {
  reconcile::Settings s;
  s.runtime_class_name = "gvisor";
  s.image_pull_secrets = {"regcred"};
  ASSERT_TRUE(CheckPlacement({"pool=sandbox"}, R"([{"operator":"Exists"}])", &s).ok());
  EXPECT_EQ(s.node_selector.at("pool"), "sandbox");
  EXPECT_EQ(s.tolerations.size(), 1u);

  reconcile::Settings bad;
  bad.runtime_class_name = "GVisor";
  ExpectRefused(CheckPlacement({}, "", &bad), "--runtime-class-name", "GVisor");
  bad = {};
  bad.priority_class_name = "low priority";
  ExpectRefused(CheckPlacement({}, "", &bad), "--priority-class-name", "not a valid name");
  bad = {};
  bad.image_pull_secrets = {"ok", ""};
  ExpectRefused(CheckPlacement({}, "", &bad), "--image-pull-secret", "empty");
}

}  // namespace
}  // namespace coderun::app
