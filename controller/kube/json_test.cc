#include "gtest/gtest.h"
#include "kube/client.h"
#include "kube/errors.h"

namespace coderun::kube {
namespace {

TEST(ParseJsonTest, ParsesWithoutDropKeys) {
  absl::StatusOr<json> j = ParseJson(R"({"a":1,"b":[true,null]})");
  ASSERT_TRUE(j.ok()) << j.status();
  EXPECT_EQ((*j)["a"], 1);
  EXPECT_EQ((*j)["b"].size(), 2u);
}

TEST(ParseJsonTest, DropsKeysAtEveryDepthAndInsideArrays) {
  const char* text = R"({
    "metadata": {"name": "p", "managedFields": [{"manager": "kubectl", "fieldsV1": {"f:a": {}}}],
                 "labels": {"managedFields": "a label value is kept"}},
    "status": {"stdout": "big output", "phase": "Running"},
    "items": [{"metadata": {"managedFields": [1, 2, 3], "name": "i0"}},
              {"metadata": {"name": "i1"}, "stdout": {"nested": ["x", {"stdout": 1}]}}],
    "values": ["managedFields", "stdout"]
  })";
  absl::StatusOr<json> j = ParseJson(text, {"managedFields", "stdout"});
  ASSERT_TRUE(j.ok()) << j.status();
  const json expected = json::parse(R"({
    "metadata": {"name": "p", "labels": {}},
    "status": {"phase": "Running"},
    "items": [{"metadata": {"name": "i0"}}, {"metadata": {"name": "i1"}}],
    "values": ["managedFields", "stdout"]
  })");
  EXPECT_EQ(*j, expected) << j->dump();
}

TEST(ParseJsonTest, DroppedValueIsSkippedEvenIfItIsTheOnlyKey) {
  absl::StatusOr<json> j = ParseJson(R"({"x":{"y":{"z":[{"x":1}]}}})", {"x"});
  ASSERT_TRUE(j.ok()) << j.status();
  EXPECT_EQ(*j, json::object());
}

TEST(ParseJsonTest, MalformedInputIsInvalidArgument) {
  for (const char* text : {"", "{", "{\"a\":}", "[1,2", "nul", "{\"a\":1}}", "\xff"}) {
    absl::StatusOr<json> j = ParseJson(text, {"a"});
    EXPECT_EQ(j.status().code(), absl::StatusCode::kInvalidArgument) << text;
    absl::StatusOr<json> plain = ParseJson(text);
    EXPECT_EQ(plain.status().code(), absl::StatusCode::kInvalidArgument) << text;
  }
}

TEST(DecodeWatchEventTest, DecodesEachEventType) {
  for (const char* type : {"ADDED", "MODIFIED", "DELETED", "BOOKMARK", "ERROR"}) {
    std::string line = std::string(R"({"type":")") + type +
                       R"(","object":{"kind":"Pod","metadata":{"name":"p"}}})";
    absl::StatusOr<WatchEvent> e = DecodeWatchEvent(line);
    ASSERT_TRUE(e.ok()) << e.status();
    EXPECT_EQ(e->type, type);
    EXPECT_EQ(e->object["metadata"]["name"], "p");
  }
}

TEST(DecodeWatchEventTest, DropKeysApplyToTheObjectNotTheEnvelope) {
  absl::StatusOr<WatchEvent> e = DecodeWatchEvent(
      R"({"type":"ADDED","object":{"type":"t","metadata":{"managedFields":[{}],"name":"p"}}})",
      {"managedFields", "type", "object"});
  ASSERT_TRUE(e.ok()) << e.status();
  EXPECT_EQ(e->type, "ADDED");
  EXPECT_EQ(e->object, json::parse(R"({"metadata":{"name":"p"}})"));
}

TEST(DecodeWatchEventTest, GarbageLinesAreInvalidArgument) {
  const char* garbage[] = {
      "",                                                   // empty
      "   ",                                                // blank
      "not json at all",                                    // not JSON
      R"({"object":{"metadata":{}}})",                      // no type
      R"({"type":7,"object":{}})",                          // type not a string
      R"({"type":"UPSERTED","object":{}})",                 // unknown type
      R"({"type":"ADDED"})",                                // no object
      R"({"type":"ADDED","object":"a string"})",            // object not an object
      R"({"type":"ADDED","object":[1,2]})",                 // object an array
      R"({"type":"ADDED","object":{"metadata":{"name":"p")",  // truncated
      R"(["ADDED",{}])",                                    // not an object
      "null",
  };
  for (const char* line : garbage) {
    absl::StatusOr<WatchEvent> e = DecodeWatchEvent(line);
    EXPECT_EQ(e.status().code(), absl::StatusCode::kInvalidArgument) << "line: " << line;
    absl::StatusOr<WatchEvent> dropped = DecodeWatchEvent(line, {"metadata"});
    EXPECT_EQ(dropped.status().code(), absl::StatusCode::kInvalidArgument) << "line: " << line;
  }
}

}  // namespace
}  // namespace coderun::kube
