#include "reconcile/types.h"

#include <gtest/gtest.h>

#include <set>
#include <string>

#include "api/coderun.h"
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
