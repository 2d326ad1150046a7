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

TEST(ParseJsonTest, DropsFieldsByPathNotByName) {
  const char* text = R"({
    "metadata": {"name": "p", "managedFields": [{"manager": "kubectl", "fieldsV1": {"f:a": {}}}],
                 "labels": {"managedFields": "a label value is kept"}},
    "status": {"stdout": "big output", "phase": "Running", "nested": {"stdout": 1}},
    "stdout": "top-level stdout is another field",
    "values": ["managedFields", "stdout"]
  })";
  absl::StatusOr<json> j = ParseJson(text, {"/metadata/managedFields", "/status/stdout"});
  ASSERT_TRUE(j.ok()) << j.status();
  const json expected = json::parse(R"({
    "metadata": {"name": "p", "labels": {"managedFields": "a label value is kept"}},
    "status": {"phase": "Running", "nested": {"stdout": 1}},
    "stdout": "top-level stdout is another field",
    "values": ["managedFields", "stdout"]
  })");
  EXPECT_EQ(*j, expected) << j->dump();
}

TEST(ParseJsonTest, PathsUseJsonPointerEscapesAndStarForArrayIndices) {
  const char* text = R"({
    "metadata": {"annotations": {"a/b": "x", "c~d": "y", "keep": "z"}},
    "spec": {"containers": [{"name": "a", "env": [1]}, {"name": "b", "env": [2]}]}
  })";
  absl::StatusOr<json> j = ParseJson(
      text, {"/metadata/annotations/a~1b", "/metadata/annotations/c~0d", "/spec/containers/*/env"});
  ASSERT_TRUE(j.ok()) << j.status();
  const json expected = json::parse(R"({
    "metadata": {"annotations": {"keep": "z"}},
    "spec": {"containers": [{"name": "a"}, {"name": "b"}]}
  })");
  EXPECT_EQ(*j, expected) << j->dump();
}

TEST(ParseJsonTest, DroppedValueIsSkippedEvenIfItIsTheOnlyKey) {
  absl::StatusOr<json> j = ParseJson(R"({"x":{"y":{"z":[{"x":1}]}}})", {"/x"});
  ASSERT_TRUE(j.ok()) << j.status();
  EXPECT_EQ(*j, json::object());
}

TEST(ParseJsonTest, WithDropKeysThatMatchNothingTheDocumentIsWhatTheParserBuilds) {
  for (const char* text :
       {R"({"a":[[],[[1,-2,3.5e3]],{},{"b":null}],"c":"\u00e9\n","d":true,"e":18446744073709551615})",
        R"([{"x":[{"y":[]}]},"s",0.25,false])", R"("just a string")", "42", "[]", "{}"}) {
    absl::StatusOr<json> j = ParseJson(text, {"/nothing/here", "/a/*/zz"});
    ASSERT_TRUE(j.ok()) << text << ": " << j.status();
    EXPECT_EQ(*j, json::parse(text)) << text;
  }
}

TEST(ParseJsonTest, AStarPathDropsEveryElementOfAnArray) {
  absl::StatusOr<json> j = ParseJson(R"({"a":[1,{"x":2},[3]],"b":[4]})", {"/a/*"});
  ASSERT_TRUE(j.ok()) << j.status();
  EXPECT_EQ(*j, json::parse(R"({"a":[],"b":[4]})"));
}

TEST(ParseJsonTest, PathsWithoutALeadingSlashMatchNothing) {
  absl::StatusOr<json> j = ParseJson(R"({"x":1,"y":{"x":2}})", {"x", "y/x"});
  ASSERT_TRUE(j.ok()) << j.status();
  EXPECT_EQ(*j, json::parse(R"({"x":1,"y":{"x":2}})"));
}

TEST(ParseListJsonTest, PathsApplyToEachItem) {
  const char* text = R"({
    "kind": "PodList", "metadata": {"resourceVersion": "7", "managedFields": "list meta kept"},
    "items": [{"metadata": {"managedFields": [1, 2, 3], "name": "i0"}},
              {"metadata": {"name": "i1"}, "status": {"stdout": "x", "phase": "Running"}}]
  })";
  absl::StatusOr<json> j = ParseListJson(text, {"/metadata/managedFields", "/status/stdout"});
  ASSERT_TRUE(j.ok()) << j.status();
  const json expected = json::parse(R"({
    "kind": "PodList", "metadata": {"resourceVersion": "7", "managedFields": "list meta kept"},
    "items": [{"metadata": {"name": "i0"}},
              {"metadata": {"name": "i1"}, "status": {"phase": "Running"}}]
  })");
  EXPECT_EQ(*j, expected) << j->dump();
}

TEST(DropFieldsTest, DropsWhatParsingWouldHaveDropped) {
  const char* text = R"j({
    "metadata": {"name": "p", "annotations": {"a/b": "x"}, "labels": {"annotations": "kept"}},
    "spec": {"code": "print(1)", "containers": [{"env": [1], "name": "c"}]},
    "code": 410
  })j";
  const DropKeys drop = {"/metadata/annotations", "/spec/code", "/spec/containers/*/env"};
  absl::StatusOr<json> parsed = ParseJson(text, drop);
  ASSERT_TRUE(parsed.ok()) << parsed.status();
  json dropped = json::parse(text);
  DropFields(dropped, drop);
  EXPECT_EQ(dropped, *parsed) << dropped.dump();
  EXPECT_EQ(dropped["code"], 410);
  EXPECT_EQ(dropped["metadata"]["labels"]["annotations"], "kept");
}

TEST(ParseJsonTest, MalformedInputIsInvalidArgument) {
  for (const char* text : {"", "{", "{\"a\":}", "[1,2", "nul", "{\"a\":1}}", "\xff"}) {
    absl::StatusOr<json> j = ParseJson(text, {"/a"});
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

TEST(DecodeWatchEventTest, DropPathsApplyToTheObjectNotTheEnvelope) {
  absl::StatusOr<WatchEvent> e = DecodeWatchEvent(
      R"({"type":"ADDED","object":{"type":"t","metadata":{"managedFields":[{}],"name":"p"}}})",
      {"/metadata/managedFields", "/type", "/object"});
  ASSERT_TRUE(e.ok()) << e.status();
  EXPECT_EQ(e->type, "ADDED");
  EXPECT_EQ(e->object, json::parse(R"({"metadata":{"name":"p"}})"));
}

// An ERROR event's object is a metav1.Status, whose "code" is the HTTP code: paths of the
// watched resource's fields (here "/spec/code") leave it alone.
TEST(DecodeWatchEventTest, ErrorEventKeepsItsStatusCode) {
  absl::StatusOr<WatchEvent> e = DecodeWatchEvent(
      R"({"type":"ERROR","object":{"kind":"Status","status":"Failure","reason":"Expired",)"
      R"("code":410,"message":"too old resource version"}})",
      {"/spec/code", "/metadata/annotations"});
  ASSERT_TRUE(e.ok()) << e.status();
  EXPECT_EQ(e->object["code"], 410);
  EXPECT_EQ(e->object["reason"], "Expired");
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
    absl::StatusOr<WatchEvent> dropped = DecodeWatchEvent(line, {"/metadata"});
    EXPECT_EQ(dropped.status().code(), absl::StatusCode::kInvalidArgument) << "line: " << line;
  }
}

}  // namespace
}  // namespace coderun::kube
