#include "reconcile/pod.h"

#include <gtest/gtest.h>

#include "api/input_digest.h"

namespace coderun::reconcile {
namespace {

using kube::json;

CodeRun SampleRun() {
  CodeRun run = *DecodeCodeRun({{"metadata", {{"name", "hello"}}}});
  run.ns = "team-a";
  run.name = "hello";
  run.uid = "0b5e5c1e-1111-2222-3333-444455556666";
  return run;
}

ValidLimits Limits() { return ValidLimits{10, 1000, 268435456, 50, 65536}; }

const std::string kDigest(64, 'd');

TEST(PodNameTest, IsReadablePrefixPlusUidHash) {
  std::string name = PodName("hello", "uid-1");
  EXPECT_EQ(name.rfind("hello-", 0), 0u);
  EXPECT_EQ(name.size(), std::string("hello-").size() + 10);
  EXPECT_NE(PodName("hello", "uid-1"), PodName("hello", "uid-2"));
  EXPECT_EQ(PodName("hello", "uid-1"), PodName("hello", "uid-1"));
  // The first 5 bytes of SHA-256(uid): a controller upgrade must find the Pods of the last.
  EXPECT_EQ(PodName("hello", "uid-1"), "hello-4a49acf8a6");
}

TEST(PodNameTest, LongNamesFitALabelValueAndTrimSeparators) {
  std::string long_name(200, 'a');
  EXPECT_LE(PodName(long_name, "u").size(), 63u);
  std::string dashed = std::string(51, 'b') + "-x";
  EXPECT_EQ(PodName(dashed, "u").substr(0, 52), std::string(51, 'b') + "-");
  EXPECT_EQ(PodName(std::string(51, 'b') + ".-", "u").find(".-"), std::string::npos);
}

TEST(BuildPodTest, IsHardenedAsDesignSays) {
  Settings s;
  s.runner_image = "runner:1";
  json pod = BuildPod(SampleRun(), Limits(), s, 200123, kDigest);
  const json& spec = pod["spec"];
  EXPECT_EQ(pod["metadata"]["name"], PodName("hello", SampleRun().uid));
  EXPECT_EQ(pod["metadata"]["labels"]["app.kubernetes.io/managed-by"], "coderun-controller");
  EXPECT_EQ(pod["metadata"]["labels"]["coderun.dev/uid"], SampleRun().uid);
  const json& owner = pod["metadata"]["ownerReferences"][0];
  EXPECT_EQ(owner["uid"], SampleRun().uid);
  EXPECT_EQ(owner["kind"], "CodeRun");
  EXPECT_EQ(owner["controller"], true);
  EXPECT_EQ(owner["blockOwnerDeletion"], true);
  EXPECT_EQ(spec["restartPolicy"], "Never");
  EXPECT_EQ(spec["activeDeadlineSeconds"], 40);
  EXPECT_EQ(spec["automountServiceAccountToken"], false);
  EXPECT_EQ(spec["enableServiceLinks"], false);
  EXPECT_EQ(spec["hostNetwork"], false);
  EXPECT_EQ(spec["securityContext"]["runAsNonRoot"], true);
  EXPECT_EQ(spec["securityContext"]["runAsUser"], 200123);
  EXPECT_EQ(spec["securityContext"]["runAsGroup"], 200123);
  EXPECT_EQ(spec["securityContext"]["seccompProfile"]["type"], "RuntimeDefault");
  ASSERT_EQ(spec["containers"].size(), 1u);
  const json& c = spec["containers"][0];
  EXPECT_EQ(c["image"], "runner:1");
  EXPECT_EQ(c["securityContext"]["allowPrivilegeEscalation"], false);
  EXPECT_EQ(c["securityContext"]["readOnlyRootFilesystem"], true);
  EXPECT_EQ(c["securityContext"]["capabilities"]["drop"], json::array({"ALL"}));
  EXPECT_EQ(c["resources"]["limits"]["cpu"], "1");
  EXPECT_EQ(c["resources"]["limits"]["memory"], "268435456");
  EXPECT_EQ(c["resources"]["requests"]["memory"], "268435456");
  EXPECT_EQ(c["resources"]["requests"]["cpu"], "1");
  EXPECT_FALSE(c.contains("env"));
  EXPECT_EQ(spec["volumes"][1]["emptyDir"]["medium"], "Memory");
  EXPECT_EQ(spec["volumes"][1]["emptyDir"]["sizeLimit"], "67108864");
  EXPECT_EQ(spec["volumes"][0]["secret"]["secretName"], pod["metadata"]["name"]);
}

TEST(BuildPodTest, CpuRequestFollowsTheRatio) {
  Settings s;
  s.cpu_request_ratio = 0.1;
  json pod = BuildPod(SampleRun(), Limits(), s, 200000, kDigest);
  EXPECT_EQ(pod["spec"]["containers"][0]["resources"]["requests"]["cpu"], "100m");
  EXPECT_EQ(pod["spec"]["containers"][0]["resources"]["limits"]["cpu"], "1");
}

TEST(BuildPodTest, NeverPutsCodeInArgvOrEnv) {
  json pod = BuildPod(SampleRun(), Limits(), Settings{}, 200000, kDigest);
  std::string dumped = pod.dump();
  RunInput input = MakeRunInput({{"code", "print('SECRET-CODE')"}, {"stdin", "SECRET-IN"}});
  json secret = BuildSecret(SampleRun(), input);
  EXPECT_EQ(dumped.find("SECRET"), std::string::npos);
  EXPECT_EQ(secret["stringData"]["code"], "print('SECRET-CODE')");
  EXPECT_EQ(secret["stringData"]["stdin"], "SECRET-IN");
  EXPECT_EQ(secret["stringData"]["args.json"], "[]");
  EXPECT_EQ(secret["stringData"]["nonce"], input.nonce);
  EXPECT_EQ(secret["metadata"]["ownerReferences"][0]["uid"], SampleRun().uid);
}

TEST(RunInputTest, DigestBindsTheSecretToThePodAndHidesGuessesBehindANonce) {
  const json spec = {{"code", "print(input())"}, {"stdin", "42\n"}, {"args", {"a", "b"}}};
  RunInput a = MakeRunInput(spec);
  RunInput b = MakeRunInput(spec);
  EXPECT_EQ(a.args_json, R"(["a","b"])");
  EXPECT_EQ(a.nonce.size(), 32u);
  EXPECT_NE(a.nonce, b.nonce) << "a fresh nonce per Secret";
  EXPECT_NE(a.digest, b.digest) << "the same input never shows the same digest twice";
  EXPECT_EQ(a.digest, api::InputDigest(a.nonce, a.code, a.stdin_data, a.args_json));
  EXPECT_NE(a.digest, api::InputDigest(a.nonce, "print(7)", a.stdin_data, a.args_json));
  json pod = BuildPod(SampleRun(), Limits(), Settings{}, 200000, a.digest);
  EXPECT_EQ(pod["spec"]["containers"][0]["args"].back(), "--input-digest=" + a.digest);
}

TEST(RunInputTest, ArgumentWithNulIsAnInputProblem) {
  EXPECT_FALSE(InputProblem({{"args", {"a", "b"}}}).has_value());
  EXPECT_FALSE(InputProblem({{"code", std::string("x\0y", 3)}}).has_value());
  auto problem = InputProblem({{"args", {"ok", std::string("a\0b", 3)}}});
  ASSERT_TRUE(problem.has_value());
  EXPECT_NE(problem->find("spec.args[1]"), std::string::npos) << *problem;
}

TEST(BuildPodTest, PlacementIsUnsetByDefault) {
  json spec = BuildPod(SampleRun(), Limits(), Settings{}, 200000, kDigest)["spec"];
  for (const char* key : {"runtimeClassName", "priorityClassName", "nodeSelector", "tolerations",
                          "imagePullSecrets"}) {
    EXPECT_FALSE(spec.contains(key)) << key;
  }
}

TEST(BuildPodTest, PlacementComesFromTheSettings) {
  Settings s;
  s.runtime_class_name = "gvisor";
  s.priority_class_name = "coderun-low";
  s.image_pull_secrets = {"regcred", "mirror"};
  s.node_selector = {{"pool", "sandbox"}, {"kubernetes.io/arch", "amd64"}};
  s.tolerations = json::parse(
      R"([{"key":"sandbox","operator":"Equal","value":"true","effect":"NoSchedule"},
          {"operator":"Exists","effect":"NoExecute","tolerationSeconds":30}])");
  json spec = BuildPod(SampleRun(), Limits(), s, 200000, kDigest)["spec"];
  EXPECT_EQ(spec["runtimeClassName"], "gvisor");
  EXPECT_EQ(spec["priorityClassName"], "coderun-low");
  EXPECT_EQ(spec["imagePullSecrets"],
            json::parse(R"([{"name":"regcred"},{"name":"mirror"}])"));
  EXPECT_EQ(spec["nodeSelector"],
            json::parse(R"({"pool":"sandbox","kubernetes.io/arch":"amd64"})"));
  EXPECT_EQ(spec["tolerations"], s.tolerations);
  // Still hardened: placement adds, never replaces.
  EXPECT_EQ(spec["automountServiceAccountToken"], false);
  EXPECT_EQ(spec["containers"].size(), 1u);
}

TEST(BuildPodTest, RuntimeClassIsPerLanguage) {
  Settings s;
  s.runtime_class_name = "gvisor";
  EXPECT_EQ(RuntimeClassFor("python", s), "gvisor");
  EXPECT_EQ(RuntimeClassFor("ruby", s), "");
  CodeRun other = SampleRun();
  other.language = "ruby";
  EXPECT_FALSE(BuildPod(other, Limits(), s, 200000, kDigest)["spec"].contains("runtimeClassName"));
}

}  // namespace
}  // namespace coderun::reconcile
