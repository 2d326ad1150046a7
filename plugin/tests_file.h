// `kubectl coderun run --tests FILE.yaml`: the judge-mode part of a CodeRun's spec from a
// YAML file (docs/judge-mode.md), and the table of verdicts printed when it is done.
//
// The file is either a list of cases or a mapping:
//
//   compare: {mode: tokens}          # optional
//   stopOnFirstFailure: true         # optional
//   tests:
//   - {name: small, stdin: "1 2\n", expectedStdout: "3\n"}
//   - name: big
//     stdin: "..."
//     args: [--fast]                 # optional
//     timeoutSeconds: 5              # optional
#pragma once

#include <string>

#include "absl/status/statusor.h"
#include "nlohmann/json.hpp"

namespace coderun::plugin {

// The spec fields (`tests`, and `compare` and `stopOnFirstFailure` when given) as JSON, with
// every scalar typed as the CRD wants it (stdin "1" stays a string). InvalidArgument with
// one line naming the file and the place for anything else; the schema checks the rest.
absl::StatusOr<nlohmann::json> ReadTestsFile(const std::string& path);

// One line per case (NAME VERDICT WALL and, for a wrong answer, where it differs), then
// "3/5 passed: WrongAnswer"; from a finished judge run's status.
std::string VerdictTable(const nlohmann::json& run);

}  // namespace coderun::plugin
