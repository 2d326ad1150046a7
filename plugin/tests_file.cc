#include "plugin/tests_file.h"

#include <vector>

#include "absl/strings/str_cat.h"
#include "plugin/outcome.h"
#include "yaml-cpp/yaml.h"

namespace coderun::plugin {
namespace {

using json = nlohmann::json;

absl::Status Bad(const std::string& path, const std::string& what) {
  return absl::InvalidArgumentError(absl::StrCat(path, ": ", what));
}

bool IsString(const YAML::Node& node) { return node.IsScalar(); }

absl::StatusOr<json> Case(const std::string& path, size_t index, const YAML::Node& node) {
  const std::string where = absl::StrCat("test ", index);
  if (!node.IsMap()) return Bad(path, where + " is not a mapping");
  json c = json::object();
  for (const auto& entry : node) {
    const std::string key = entry.first.as<std::string>();
    const YAML::Node& value = entry.second;
    if (key == "name" || key == "stdin" || key == "expectedStdout") {
      if (!IsString(value)) return Bad(path, absl::StrCat(where, ": ", key, " is not a string"));
      c[key] = value.Scalar();
    } else if (key == "args") {
      if (!value.IsSequence()) return Bad(path, where + ": args is not a list");
      json args = json::array();
      for (const YAML::Node& arg : value) {
        if (!IsString(arg)) return Bad(path, where + ": args holds something not a string");
        args.push_back(arg.Scalar());
      }
      c[key] = std::move(args);
    } else if (key == "timeoutSeconds") {
      int seconds = 0;
      if (!YAML::convert<int>::decode(value, seconds)) {
        return Bad(path, where + ": timeoutSeconds is not an integer");
      }
      c[key] = seconds;
    } else {
      return Bad(path, absl::StrCat(where, ": unknown field ", key));
    }
  }
  if (!c.contains("name")) return Bad(path, where + " has no name");
  return c;
}

}  // namespace

absl::StatusOr<json> ReadTestsFile(const std::string& path) {
  YAML::Node doc;
  try {
    doc = YAML::LoadFile(path);
  } catch (const YAML::Exception& e) {
    return Bad(path, e.what());
  }
  json spec = json::object();
  YAML::Node tests = doc;
  if (doc.IsMap()) {
    for (const auto& entry : doc) {
      const std::string key = entry.first.as<std::string>();
      const YAML::Node& value = entry.second;
      if (key == "tests") {
        tests = value;
      } else if (key == "stopOnFirstFailure") {
        bool stop = false;
        if (!YAML::convert<bool>::decode(value, stop)) {
          return Bad(path, "stopOnFirstFailure is not true or false");
        }
        spec["stopOnFirstFailure"] = stop;
      } else if (key == "compare") {
        if (!value.IsMap()) return Bad(path, "compare is not a mapping");
        json compare = json::object();
        for (const auto& c : value) {
          const std::string name = c.first.as<std::string>();
          if (name == "mode") {
            compare[name] = c.second.Scalar();
          } else if (name == "absoluteTolerance" || name == "relativeTolerance") {
            double tolerance = 0;
            if (!YAML::convert<double>::decode(c.second, tolerance)) {
              return Bad(path, "compare." + name + " is not a number");
            }
            compare[name] = tolerance;
          } else {
            return Bad(path, "compare: unknown field " + name);
          }
        }
        spec["compare"] = std::move(compare);
      } else {
        return Bad(path, "unknown field " + key + " (want tests, compare, stopOnFirstFailure)");
      }
    }
  }
  if (!tests.IsSequence() || tests.size() == 0) {
    return Bad(path, "no test cases (a list, or a mapping with tests:)");
  }
  json cases = json::array();
  for (size_t i = 0; i < tests.size(); ++i) {
    absl::StatusOr<json> c = Case(path, i, tests[i]);
    if (!c.ok()) return c.status();
    cases.push_back(*std::move(c));
  }
  spec["tests"] = std::move(cases);
  return spec;
}

std::string VerdictTable(const json& run) {
  std::vector<std::vector<std::string>> rows = {{"CASE", "VERDICT", "WALL", ""}};
  const json tests = run.contains(json::json_pointer("/status/tests"))
                         ? run.at(json::json_pointer("/status/tests"))
                         : json::array();
  for (const json& t : tests) {
    if (!t.is_object()) continue;
    const long long wall = IntAt(t, "/usage/wallMillis", -1);
    rows.push_back({StringAt(t, "/name"), StringAt(t, "/verdict"),
                    wall >= 0 ? absl::StrCat(wall, " ms") : "", StringAt(t, "/message")});
  }
  std::string out = FormatTable(rows);
  absl::StrAppend(&out, IntAt(run, "/status/testsPassed"), "/", IntAt(run, "/status/testsTotal"),
                  " passed: ", StringAt(run, "/status/verdict"), "\n");
  return out;
}

}  // namespace coderun::plugin
