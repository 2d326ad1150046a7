#include "plugin/tests_file.h"

#include <cstdio>

#include "gmock/gmock.h"
#include "gtest/gtest.h"

namespace coderun::plugin {
namespace {

using ::testing::HasSubstr;
using json = nlohmann::json;

std::string Write(const std::string& name, const std::string& text) {
  const std::string path = ::testing::TempDir() + "/" + name;
  std::FILE* f = std::fopen(path.c_str(), "w");
  std::fputs(text.c_str(), f);
  std::fclose(f);
  return path;
}

TEST(TestsFileTest, AListOfCasesKeepsEveryScalarAString) {
  absl::StatusOr<json> spec = ReadTestsFile(Write("list.yaml", R"(
- {name: a, stdin: "1 2\n", expectedStdout: 3}
- name: b
  stdin: true
  expectedStdout: "007\n"
  args: [1, --x]
  timeoutSeconds: 4
)"));
  ASSERT_TRUE(spec.ok()) << spec.status();
  EXPECT_EQ(*spec, json::parse(R"({"tests": [
      {"name": "a", "stdin": "1 2\n", "expectedStdout": "3"},
      {"name": "b", "stdin": "true", "expectedStdout": "007\n", "args": ["1", "--x"],
       "timeoutSeconds": 4}]})"));
}

TEST(TestsFileTest, AMappingCarriesCompareAndStop) {
  absl::StatusOr<json> spec = ReadTestsFile(Write("map.yaml", R"(
compare: {mode: float, absoluteTolerance: 1e-3}
stopOnFirstFailure: yes
tests:
- {name: a, stdin: "", expectedStdout: "0.5"}
)"));
  ASSERT_TRUE(spec.ok()) << spec.status();
  EXPECT_EQ((*spec)["compare"], json::parse(R"({"mode": "float", "absoluteTolerance": 0.001})"));
  EXPECT_EQ((*spec)["stopOnFirstFailure"], true);
  EXPECT_EQ((*spec)["tests"].size(), 1u);
}

TEST(TestsFileTest, MistakesNameTheFileAndThePlace) {
  const std::string path = Write("bad.yaml", "- {name: a, stdn: x}\n");
  EXPECT_EQ(ReadTestsFile(path).status().message(), path + ": test 0: unknown field stdn");
  EXPECT_THAT(ReadTestsFile(Write("noname.yaml", "- {stdin: x}\n")).status().message(),
              HasSubstr("test 0 has no name"));
  EXPECT_THAT(ReadTestsFile(Write("empty.yaml", "tests: []\n")).status().message(),
              HasSubstr("no test cases"));
  EXPECT_THAT(ReadTestsFile(Write("other.yaml", "cases: []\n")).status().message(),
              HasSubstr("unknown field cases"));
  EXPECT_THAT(ReadTestsFile(Write("broken.yaml", "- {name: [\n")).status().message(),
              HasSubstr("broken.yaml: "));
  EXPECT_THAT(ReadTestsFile(Write("timeout.yaml", "- {name: a, timeoutSeconds: soon}\n"))
                  .status()
                  .message(),
              HasSubstr("timeoutSeconds is not an integer"));
}

TEST(TestsFileTest, VerdictTableSaysEachCaseAndTheTotal) {
  const json run = json::parse(R"({"status": {"verdict": "WrongAnswer", "testsPassed": 1,
      "testsTotal": 2, "tests": [
        {"name": "small", "verdict": "Accepted", "usage": {"wallMillis": 31}},
        {"name": "big", "verdict": "WrongAnswer", "usage": {"wallMillis": 1200},
         "message": "line 1: expected \"5\", got \"4\""}]}})");
  EXPECT_EQ(VerdictTable(run),
            "CASE    VERDICT       WALL\n"
            "small   Accepted      31 ms\n"
            "big     WrongAnswer   1200 ms   line 1: expected \"5\", got \"4\"\n"
            "1/2 passed: WrongAnswer\n");
}

}  // namespace
}  // namespace coderun::plugin
