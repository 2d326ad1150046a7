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
  RunInput input = MakeRunInput({{"code", "print('SECRET-CODE')"}, {"stdin", "SECRET-IN"}}, 10);
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
  RunInput a = MakeRunInput(spec, 10);
  RunInput b = MakeRunInput(spec, 10);
  EXPECT_EQ(a.args_json, R"(["a","b"])");
  EXPECT_EQ(a.nonce.size(), 32u);
  EXPECT_NE(a.nonce, b.nonce) << "a fresh nonce per Secret";
  EXPECT_NE(a.digest, b.digest) << "the same input never shows the same digest twice";
  EXPECT_EQ(a.digest, api::InputDigest(a.nonce, a.code, a.stdin_data, a.args_json));
  EXPECT_NE(a.digest, api::InputDigest(a.nonce, "print(7)", a.stdin_data, a.args_json));
  json pod = BuildPod(SampleRun(), Limits(), Settings{}, 200000, a.digest);
  EXPECT_EQ(pod["spec"]["containers"][0]["args"].back(), "--input-digest=" + a.digest);
}

// A plain run's Secret, arguments and deadline are what they were before judge mode.
TEST(RunInputTest, PlainRunHasNoTestsKeyAndTheFourFieldDigest) {
  RunInput in = MakeRunInput({{"code", "print(1)"}, {"stdin", "x"}}, 10);
  EXPECT_EQ(in.tests_json, "");
  EXPECT_EQ(in.digest, api::InputDigest(in.nonce, in.code, in.stdin_data, in.args_json));
  EXPECT_FALSE(BuildSecret(SampleRun(), in)["stringData"].contains("tests.json"));
  json pod = BuildPod(SampleRun(), Limits(), Settings{}, 200000, in.digest);
  EXPECT_EQ(pod["spec"]["containers"][0]["args"],
            json({"--input-dir=/coderun/input", "--timeout-seconds=10", "--pids=50",
                  "--output-bytes=65536", "--input-digest=" + in.digest}));
  EXPECT_EQ(pod["spec"]["activeDeadlineSeconds"], 10 + Settings{}.deadline_margin_seconds);
}

const json kJudgeSpec = {
    {"code", "print(sum(map(int, input().split())))"},
    {"limits", {{"timeoutSeconds", 3}}},
    {"tests",
     {{{"name", "small"}, {"stdin", "1 2\n"}, {"expectedStdout", "EXPECTED-3\n"}},
      {{"name", "big"},
       {"stdin", "5 6\n"},
       {"args", {"-v"}},
       {"timeoutSeconds", 7},
       {"expectedStdout", "EXPECTED-11\n"}}}}};

TEST(RunInputTest, JudgeRunSecretCarriesEachCasesInputButNeverAnExpectedOutput) {
  RunInput in = MakeRunInput(kJudgeSpec, 3);
  EXPECT_EQ(json::parse(in.tests_json),
            json::parse(R"([{"name":"small","stdin":"1 2\n","args":[],"timeoutSeconds":3},
                            {"name":"big","stdin":"5 6\n","args":["-v"],"timeoutSeconds":7}])"));
  EXPECT_EQ(in.digest,
            api::InputDigest(in.nonce, in.code, in.stdin_data, in.args_json, in.tests_json));
  EXPECT_NE(in.digest, api::InputDigest(in.nonce, in.code, in.stdin_data, in.args_json));
  json secret = BuildSecret(SampleRun(), in);
  EXPECT_EQ(secret["stringData"]["tests.json"], in.tests_json);
  EXPECT_EQ(secret.dump().find("EXPECTED"), std::string::npos);
}

TEST(BuildPodTest, JudgeRunGetsTheTestsFlagsPerCaseCapsAndADeadlineForEveryCase) {
  CodeRun run = SampleRun();
  run.judge.cases = 2;
  run.judge.stop_on_first_failure = true;
  ValidLimits limits = Limits();
  limits.judge = JudgeLimits{2, 65536, 16384, 12};
  json pod = BuildPod(run, limits, Settings{}, 200000, kDigest);
  EXPECT_EQ(pod["spec"]["containers"][0]["args"],
            json({"--input-dir=/coderun/input", "--timeout-seconds=10", "--pids=50",
                  "--output-bytes=16384", "--input-digest=" + kDigest, "--tests",
                  "--case-stdout-bytes=65536", "--stop-on-failure"}));
  EXPECT_EQ(pod["spec"]["activeDeadlineSeconds"], 12 + Settings{}.deadline_margin_seconds);
  EXPECT_EQ(pod.dump().find("EXPECTED"), std::string::npos);
  run.judge.stop_on_first_failure = false;
  json args = BuildPod(run, limits, Settings{}, 200000, kDigest)["spec"]["containers"][0]["args"];
  EXPECT_EQ(args.back(), "--case-stdout-bytes=65536");
}

TEST(RunInputTest, TestCaseNamesMustBeUniqueDnsLabelsWithoutNulArguments) {
  EXPECT_FALSE(InputProblem(kJudgeSpec).has_value());
  json dup = kJudgeSpec;
  dup["tests"][1]["name"] = "small";
  EXPECT_NE(InputProblem(dup).value_or("").find("spec.tests[1].name: \"small\" names another"),
            std::string::npos);
  json bad = kJudgeSpec;
  bad["tests"][0]["name"] = "Small_1";
  EXPECT_NE(InputProblem(bad).value_or("").find("spec.tests[0].name"), std::string::npos);
  bad["tests"][0].erase("name");
  EXPECT_NE(InputProblem(bad).value_or("").find("spec.tests[0].name"), std::string::npos);
  json nul = kJudgeSpec;
  nul["tests"][1]["args"] = {std::string("a\0b", 3)};
  EXPECT_NE(InputProblem(nul).value_or("").find("spec.tests[1].args[0]"), std::string::npos);
}

TEST(RunInputTest, InputOverTheSecretsMiBIsASecretProblem) {
  json spec = kJudgeSpec;
  spec["code"] = std::string(262144, 'c');
  spec["stdin"] = std::string(262144, 's');
  EXPECT_FALSE(SecretProblem(MakeRunInput(spec, 3)).has_value());
  // Control characters take 6 bytes each in tests.json.
  spec["tests"][0]["stdin"] = std::string(100000, '\x01');
  auto problem = SecretProblem(MakeRunInput(spec, 3));
  ASSERT_TRUE(problem.has_value());
  EXPECT_NE(problem->find("1048576"), std::string::npos) << *problem;
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
