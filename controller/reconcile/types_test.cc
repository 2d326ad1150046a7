#include "reconcile/types.h"

#include <gtest/gtest.h>

#include <set>
#include <string>

#include "api/coderun.h"
#include "api/report.h"
#include "judge/compare.h"
#include "kube/client.h"
#include "yaml-cpp/yaml.h"

namespace coderun::reconcile {
namespace {

using kube::json;

// The CodeRun watch's drop paths name CodeRun fields; an ERROR event's object is a
// metav1.Status, whose "code" (the HTTP code) must survive them.
TEST(CodeRunDropKeysTest, WatchErrorEventKeepsItsStatusCode) {
  absl::StatusOr<kube::WatchEvent> e = kube::DecodeWatchEvent(
      R"j({"type":"ERROR","object":{"kind":"Status","apiVersion":"v1","metadata":{},)j"
      R"j("status":"Failure","message":"too old resource version: 5 (100)","reason":"Expired",)j"
      R"j("code":410}})j",
      CodeRunDropKeys());
  ASSERT_TRUE(e.ok()) << e.status();
  ASSERT_TRUE(e->object.contains("code")) << e->object.dump();
  EXPECT_EQ(e->object["code"], 410);
}

TEST(CodeRunDropKeysTest, DropsTheBigFieldsAndNothingElse) {
  const json run = {
      {"metadata",
       {{"name", "r"},
        {"namespace", "ns"},
        {"labels", {{"code", "kept"}, {"annotations", "kept"}, {"stdout", "kept"}}},
        {"annotations", {{"kubectl.kubernetes.io/last-applied-configuration", "{...}"}}},
        {"managedFields", json::array({{{"manager", "kubectl"}}})}}},
      {"spec",
       {{"language", "python"},
        {"code", "print(1)"},
        {"stdin", "x"},
        {"args", {"a"}},
        {"limits", {{"cpu", "1"}}}}},
      {"status", {{"phase", "Succeeded"}, {"stdout", "1\n"}, {"stderr", ""}, {"exitCode", 0}}}};
  absl::StatusOr<json> parsed = kube::ParseJson(run.dump(), CodeRunDropKeys());
  ASSERT_TRUE(parsed.ok()) << parsed.status();
  const json expected = {
      {"metadata",
       {{"name", "r"},
        {"namespace", "ns"},
        {"labels", {{"code", "kept"}, {"annotations", "kept"}, {"stdout", "kept"}}}}},
      {"spec", {{"language", "python"}, {"limits", {{"cpu", "1"}}}}},
      {"status", {{"phase", "Succeeded"}, {"exitCode", 0}}}};
  EXPECT_EQ(*parsed, expected) << parsed->dump();
}

TEST(MetadataDropKeysTest, PodsLoseManagedFieldsAndAnnotationsOnly) {
  const json pod = {
      {"metadata",
       {{"name", "p"},
        {"annotations", {{"a", "b"}}},
        {"managedFields", json::array()},
        {"labels", {{"managedFields", "kept"}}}}},
      {"spec", {{"containers", json::array({{{"name", "runner"}}})}}}};
  absl::StatusOr<json> parsed = kube::ParseJson(pod.dump(), MetadataDropKeys());
  ASSERT_TRUE(parsed.ok()) << parsed.status();
  EXPECT_EQ((*parsed)["metadata"],
            json({{"name", "p"}, {"labels", {{"managedFields", "kept"}}}}));
  EXPECT_EQ((*parsed)["spec"], pod["spec"]);
}

// The schema of the CRD's served version (crds/coderun.dev_coderuns.yaml).
YAML::Node CrdSchema() {
  YAML::Node crd = YAML::LoadFile(CODERUN_CRD_PATH);
  for (const YAML::Node& version : crd["spec"]["versions"]) {
    if (version["served"].as<bool>()) return version["schema"]["openAPIV3Schema"];
  }
  ADD_FAILURE() << "no served version in " << CODERUN_CRD_PATH;
  return YAML::Node();
}

// The apiserver fills defaults from the CRD; the decoder fills the same ones for an object
// that lacks them. Both must say the same.
TEST(DecodeCodeRunTest, DefaultsAreTheCrdsDefaults) {
  const YAML::Node spec = CrdSchema()["properties"]["spec"]["properties"];
  const YAML::Node limits = spec["limits"]["properties"];
  EXPECT_EQ(spec["language"]["default"].as<std::string>(), api::kDefaultLanguage);
  EXPECT_EQ(limits["timeoutSeconds"]["default"].as<std::int64_t>(), api::kDefaultTimeoutSeconds);
  EXPECT_EQ(limits["cpu"]["default"].as<std::string>(), api::kDefaultCpu);
  EXPECT_EQ(limits["memory"]["default"].as<std::string>(), api::kDefaultMemory);
  EXPECT_EQ(limits["pids"]["default"].as<std::int64_t>(), api::kDefaultPids);
  EXPECT_EQ(limits["outputBytes"]["default"].as<std::int64_t>(), api::kDefaultOutputBytes);
  EXPECT_EQ(spec["priority"]["default"].as<std::int64_t>(), api::kDefaultPriority);
  // Every field of spec.limits with a default is one the decoder fills.
  std::set<std::string> defaulted;
  for (const auto& field : limits) {
    if (field.second["default"]) defaulted.insert(field.first.as<std::string>());
  }
  EXPECT_EQ(defaulted,
            (std::set<std::string>{"timeoutSeconds", "cpu", "memory", "pids", "outputBytes"}));

  absl::StatusOr<CodeRun> run = DecodeCodeRun({{"metadata", {{"name", "r"}}}, {"spec", {}}});
  ASSERT_TRUE(run.ok()) << run.status();
  EXPECT_EQ(run->language, api::kDefaultLanguage);
  EXPECT_EQ(run->limits.timeout_seconds, api::kDefaultTimeoutSeconds);
  EXPECT_EQ(run->limits.cpu, api::kDefaultCpu);
  EXPECT_EQ(run->limits.memory, api::kDefaultMemory);
  EXPECT_EQ(run->limits.pids, api::kDefaultPids);
  EXPECT_EQ(run->limits.output_bytes, api::kDefaultOutputBytes);
  EXPECT_EQ(run->priority, api::kDefaultPriority);
  EXPECT_FALSE(run->ttl_seconds_after_finished.has_value());
}

TEST(DecodeCodeRunTest, GivenFieldsWin) {
  absl::StatusOr<CodeRun> run = DecodeCodeRun(
      {{"metadata", {{"name", "r"}}},
       {"spec",
        {{"language", "python"},
         {"limits",
          {{"timeoutSeconds", 3}, {"cpu", 2}, {"memory", "1Gi"}, {"pids", 7}, {"outputBytes", 0}}},
         {"ttlSecondsAfterFinished", 60}}}});
  ASSERT_TRUE(run.ok()) << run.status();
  EXPECT_EQ(run->limits.timeout_seconds, 3);
  EXPECT_EQ(run->limits.cpu, "2");  // a JSON number as its text
  EXPECT_EQ(run->limits.memory, "1Gi");
  EXPECT_EQ(run->limits.pids, 7);
  EXPECT_EQ(run->limits.output_bytes, 0);
  EXPECT_EQ(run->ttl_seconds_after_finished, 60);
}

// The CRD's phase enum is the controller's set of phases.
TEST(DecodeCodeRunTest, PhasesAreTheCrdsEnum) {
  std::set<std::string> phases;
  for (const YAML::Node& p : CrdSchema()["properties"]["status"]["properties"]["phase"]["enum"]) {
    phases.insert(p.as<std::string>());
  }
  EXPECT_EQ(phases, (std::set<std::string>{api::kPhasePending, api::kPhaseRunning,
                                           api::kPhaseSucceeded, api::kPhaseFailed}));
}

TEST(DecodeCodeRunTest, JudgeSpecKeepsASummaryOfTheCases) {
  const json object = {
      {"metadata", {{"name", "r"}}},
      {"spec",
       {{"limits", {{"timeoutSeconds", 4}}},
        {"tests",
         {{{"name", "a"}, {"stdin", "1"}, {"expectedStdout", "1"}},
          {{"name", "b"}, {"timeoutSeconds", 9}},
          {{"name", "c"}, {"timeoutSeconds", 2}, {"args", {"x"}}}}},
        {"compare", {{"mode", "float"}, {"absoluteTolerance", 0.5}, {"relativeTolerance", 0}}},
        {"stopOnFirstFailure", true}}}};
  // Parsed as the cache parses it: the cases' texts never arrive.
  absl::StatusOr<json> cached = kube::ParseJson(object.dump(), CodeRunDropKeys());
  ASSERT_TRUE(cached.ok());
  EXPECT_EQ((*cached)["spec"]["tests"],
            json::parse(R"([{}, {"timeoutSeconds": 9}, {"timeoutSeconds": 2}])"));
  absl::StatusOr<CodeRun> run = DecodeCodeRun(*cached);
  ASSERT_TRUE(run.ok()) << run.status();
  EXPECT_TRUE(run->Judged());
  EXPECT_EQ(run->judge.cases, 3);
  EXPECT_EQ(run->judge.timeout_sum_seconds, 4 + 9 + 2);
  EXPECT_EQ(run->judge.min_case_timeout_seconds, 2);
  EXPECT_EQ(run->judge.max_case_timeout_seconds, 9);
  EXPECT_EQ(run->judge.compare_mode, "float");
  EXPECT_EQ(run->judge.absolute_tolerance, 0.5);
  EXPECT_EQ(run->judge.relative_tolerance, 0);
  EXPECT_TRUE(run->judge.stop_on_first_failure);

  // status.tests (the cases' outputs) is never cached either.
  absl::StatusOr<json> done = kube::ParseJson(
      R"({"metadata":{"name":"r"},"status":{"verdict":"Accepted","tests":[{"name":"a","stdout":"x"}]}})",
      CodeRunDropKeys());
  ASSERT_TRUE(done.ok());
  EXPECT_EQ((*done)["status"], json({{"verdict", "Accepted"}}));
}

TEST(DecodeCodeRunTest, JudgeDefaultsAreTheCrdsAndTheComparisonsDefaults) {
  const YAML::Node spec = CrdSchema()["properties"]["spec"]["properties"];
  const YAML::Node compare = spec["compare"]["properties"];
  absl::StatusOr<CodeRun> run = DecodeCodeRun({{"metadata", {{"name", "r"}}}, {"spec", {}}});
  ASSERT_TRUE(run.ok());
  EXPECT_FALSE(run->Judged());
  EXPECT_EQ(compare["mode"]["default"].as<std::string>(), run->judge.compare_mode);
  EXPECT_EQ(compare["mode"]["default"].as<std::string>(),
            judge::CompareModeName(judge::CompareSpec{}.mode));
  // The tolerances have no schema default (helm's toYaml writes 1e-06, which YAML 1.1
  // readers take for a string): the decoder's is the comparison's.
  EXPECT_FALSE(compare["absoluteTolerance"]["default"]);
  EXPECT_FALSE(compare["relativeTolerance"]["default"]);
  EXPECT_EQ(run->judge.absolute_tolerance, judge::kDefaultAbsoluteTolerance);
  EXPECT_EQ(run->judge.relative_tolerance, judge::kDefaultRelativeTolerance);
  EXPECT_EQ(spec["stopOnFirstFailure"]["default"].as<bool>(), run->judge.stop_on_first_failure);
  std::set<std::string> modes;
  for (const YAML::Node& m : compare["mode"]["enum"]) {
    modes.insert(m.as<std::string>());
    EXPECT_TRUE(judge::ParseCompareMode(m.as<std::string>()).has_value()) << m.as<std::string>();
  }
  EXPECT_EQ(modes.size(), 4u);
  EXPECT_EQ(spec["tests"]["maxItems"].as<std::size_t>(), api::kMaxTestCases);
}

TEST(DecodeWorkloadTest, ReadsOwnerQueueAdmissionEvictionAndFlavors) {
  json w = json::parse(R"({
    "metadata": {"name": "r-0123456789", "namespace": "ns", "uid": "w1", "resourceVersion": "7",
      "ownerReferences": [{"kind": "CodeRun", "name": "r", "uid": "u1", "controller": true}]},
    "spec": {"queueName": "lq", "active": false, "podSets": [{"name": "main", "count": 1}]},
    "status": {
      "conditions": [
        {"type": "QuotaReserved", "status": "True"},
        {"type": "Admitted", "status": "True", "lastTransitionTime": "2026-01-01T00:00:10Z"},
        {"type": "Evicted", "status": "True", "reason": "Preempted", "message": "m"},
        {"type": "Finished", "status": "False"}],
      "admission": {"clusterQueue": "cq", "podSetAssignments": [
        {"name": "main", "flavors": {"cpu": "a", "memory": "b", "pods": "a"}}]}}})");
  absl::StatusOr<Workload> d = DecodeWorkload(w);
  ASSERT_TRUE(d.ok()) << d.status();
  EXPECT_EQ(d->controller_uid, "u1");
  EXPECT_EQ(d->controller_kind, "CodeRun");
  EXPECT_EQ(d->controller_name, "r");
  EXPECT_EQ(d->queue_name, "lq");
  EXPECT_FALSE(d->active);
  EXPECT_TRUE(d->admitted);
  EXPECT_EQ(d->admitted_time, 1767225610);
  EXPECT_TRUE(d->evicted);
  EXPECT_EQ(d->evicted_reason, "Preempted");
  EXPECT_FALSE(d->finished);  // status False
  EXPECT_EQ(d->flavors, (std::vector<std::string>{"a", "b"}));
  EXPECT_EQ(d->pod_sets, w["spec"]["podSets"]);

  json bare = {{"metadata", {{"name", "x"}}}};
  d = DecodeWorkload(bare);
  ASSERT_TRUE(d.ok());
  EXPECT_TRUE(d->active);
  EXPECT_FALSE(d->admitted || d->evicted || d->finished);
  EXPECT_FALSE(DecodeWorkload(json::array()).ok());
}

}  // namespace
}  // namespace coderun::reconcile
