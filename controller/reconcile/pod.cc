#include "reconcile/pod.h"

#include <openssl/evp.h>
#include <openssl/rand.h>
#include <openssl/sha.h>

#include <algorithm>
#include <chrono>
#include <cmath>
#include <cstring>
#include <set>

#include "absl/strings/str_cat.h"
#include "api/coderun.h"
#include "api/input_digest.h"

namespace coderun::reconcile {

using kube::json;

namespace {

std::string Hex(const unsigned char* bytes, size_t n) {
  static constexpr char kHex[] = "0123456789abcdef";
  std::string out;
  for (size_t i = 0; i < n; ++i) {
    out.push_back(kHex[bytes[i] >> 4]);
    out.push_back(kHex[bytes[i] & 0xf]);
  }
  return out;
}

}  // namespace

std::string PodName(const std::string& coderun_name, const std::string& coderun_uid) {
  // Fetched once: OpenSSL 3's SHA256() looks the algorithm up (under a lock) at every call,
  // which made this a few percent of the controller's CPU.
  static EVP_MD* const sha256 = EVP_MD_fetch(nullptr, "SHA256", nullptr);
  unsigned char digest[SHA256_DIGEST_LENGTH];
  EVP_Digest(coderun_uid.data(), coderun_uid.size(), digest, nullptr, sha256, nullptr);
  const std::string hash = Hex(digest, 5);
  std::string prefix = coderun_name.substr(0, 52);
  while (!prefix.empty() && (prefix.back() == '-' || prefix.back() == '.')) prefix.pop_back();
  return prefix.empty() ? "run-" + hash : prefix + "-" + hash;
}

json RunLabels(const CodeRun& run) {
  return {{kManagedByLabel, kManagedByValue}, {kUidLabel, run.uid}};
}

json OwnerReference(const CodeRun& run) {
  return {{"apiVersion", "coderun.dev/v1alpha1"}, {"kind", "CodeRun"},
          {"name", run.name},                     {"uid", run.uid},
          {"controller", true},                   {"blockOwnerDeletion", true}};
}

static json ObjectMeta(const CodeRun& run) {
  return {{"name", PodName(run.name, run.uid)},
          {"namespace", run.ns},
          {"labels", RunLabels(run)},
          {"annotations", {{"coderun.dev/coderun", run.name}}},
          {"ownerReferences", json::array({OwnerReference(run)})}};
}

namespace {

json Args(const json& obj) {
  auto it = obj.find("args");
  return it != obj.end() && it->is_array() ? *it : json::array();
}

// The Secret's tests.json: each case's name, stdin, args and timeout, nothing else.
std::string TestsJson(const json& spec, std::int64_t default_timeout_seconds) {
  const json& tests = SpecTests(spec);
  if (tests.empty()) return "";
  json out = json::array();
  for (const json& t : tests) {
    if (!t.is_object()) continue;
    auto timeout = t.find("timeoutSeconds");
    out.push_back({{"name", StringField(t, "name")},
                   {"stdin", StringField(t, "stdin")},
                   {"args", Args(t)},
                   {"timeoutSeconds", timeout != t.end() && timeout->is_number_integer()
                                          ? timeout->get<std::int64_t>()
                                          : default_timeout_seconds}});
  }
  return out.dump();
}

bool IsDnsLabel(const std::string& name) {
  if (name.empty() || name.size() > 63) return false;
  auto alnum = [](char c) { return (c >= 'a' && c <= 'z') || (c >= '0' && c <= '9'); };
  if (!alnum(name.front()) || !alnum(name.back())) return false;
  return std::all_of(name.begin(), name.end(), [&](char c) { return alnum(c) || c == '-'; });
}

std::optional<std::string> ArgsProblem(const json& obj, const std::string& field) {
  const json args = Args(obj);
  for (size_t i = 0; i < args.size(); ++i) {
    const json& a = args[i];
    if (a.is_string() && a.get_ref<const std::string&>().find('\0') != std::string::npos) {
      return absl::StrCat(field, "[", i, "] contains a NUL byte, which no program argument can hold");
    }
  }
  return std::nullopt;
}

}  // namespace

RunInput MakeRunInput(const json& spec, std::int64_t default_timeout_seconds) {
  RunInput in;
  in.code = StringField(spec, "code");
  in.stdin_data = StringField(spec, "stdin");
  in.args_json = Args(spec).dump();
  in.tests_json = TestsJson(spec, default_timeout_seconds);
  unsigned char random[16];
  if (RAND_bytes(random, sizeof(random)) != 1) {
    // No entropy (never seen on Linux): a nonce from the clock still binds the digest; it
    // only no longer hides a guessed input from someone reading Pods.
    const auto now = std::chrono::steady_clock::now().time_since_epoch().count();
    std::memcpy(random, &now, std::min(sizeof(now), sizeof(random)));
  }
  in.nonce = Hex(random, sizeof(random));
  in.digest = api::InputDigest(in.nonce, in.code, in.stdin_data, in.args_json, in.tests_json);
  return in;
}

std::optional<std::string> InputProblem(const json& spec) {
  if (auto bad = ArgsProblem(spec, "spec.args")) return bad;
  const json& tests = SpecTests(spec);
  std::set<std::string> names;
  for (size_t i = 0; i < tests.size(); ++i) {
    const json& t = tests[i];
    const std::string field = absl::StrCat("spec.tests[", i, "]");
    if (!t.is_object()) return absl::StrCat(field, ": not an object");
    const std::string name = StringField(t, "name");
    if (!IsDnsLabel(name)) {
      return absl::StrCat(field, ".name: \"", name.substr(0, 64),
                          "\" is not a DNS label (lowercase letters, digits and '-', at most 63)");
    }
    if (!names.insert(name).second) {
      return absl::StrCat(field, ".name: \"", name, "\" names another case too");
    }
    if (auto bad = ArgsProblem(t, field + ".args")) return bad;
  }
  return std::nullopt;
}

std::optional<std::string> SecretProblem(const RunInput& in) {
  const size_t total = in.code.size() + in.stdin_data.size() + in.args_json.size() +
                       in.tests_json.size() + in.nonce.size();
  if (total <= kSecretDataLimitBytes) return std::nullopt;
  return absl::StrCat("the run's input (code, stdin, args", in.tests_json.empty() ? "" : " and the test cases' stdin and args",
                      ") takes ", total, " bytes in its Secret, above the ", kSecretDataLimitBytes,
                      " bytes a Secret may hold");
}

json BuildSecret(const CodeRun& run, const RunInput& input) {
  json secret = {{"apiVersion", "v1"},
                 {"kind", "Secret"},
                 {"metadata", ObjectMeta(run)},
                 {"type", "Opaque"},
                 {"immutable", true},
                 {"stringData",
                  {{"code", input.code},
                   {"stdin", input.stdin_data},
                   {"args.json", input.args_json},
                   {"nonce", input.nonce}}}};
  if (!input.tests_json.empty()) secret["stringData"]["tests.json"] = input.tests_json;
  return secret;
}

std::string RuntimeClassFor(const std::string& language, const Settings& settings) {
  return language == api::kLanguagePython ? settings.runtime_class_name : "";
}

// Adds the platform's placement settings to a Pod spec; unset ones stay absent.
void AddPlacement(const CodeRun& run, const Settings& s, json& spec) {
  if (std::string rc = RuntimeClassFor(run.language, s); !rc.empty()) {
    spec["runtimeClassName"] = std::move(rc);
  }
  if (!s.priority_class_name.empty()) spec["priorityClassName"] = s.priority_class_name;
  if (!s.node_selector.empty()) spec["nodeSelector"] = s.node_selector;
  if (s.tolerations.is_array() && !s.tolerations.empty()) spec["tolerations"] = s.tolerations;
  if (!s.image_pull_secrets.empty()) {
    json secrets = json::array();
    for (const std::string& name : s.image_pull_secrets) secrets.push_back({{"name", name}});
    spec["imagePullSecrets"] = std::move(secrets);
  }
}

json RunnerResources(const ValidLimits& limits, const Settings& s) {
  auto cpu_request = static_cast<std::int64_t>(
      std::ceil(static_cast<double>(limits.cpu_milli) * s.cpu_request_ratio));
  if (cpu_request < 1) cpu_request = 1;
  return {{"limits", {{"cpu", FormatMilli(limits.cpu_milli)},
                      {"memory", absl::StrCat(limits.memory_bytes)}}},
          {"requests", {{"cpu", FormatMilli(cpu_request)},
                        {"memory", absl::StrCat(limits.memory_bytes)}}}};
}

json RunnerPod(json metadata, const ValidLimits& limits, const Settings& s,
               std::int64_t run_uid, json args, const std::string& input_secret,
               std::optional<std::int64_t> deadline_seconds) {
  json mounts = json::array();
  json volumes = json::array();
  if (!input_secret.empty()) {
    mounts.push_back({{"name", "input"}, {"mountPath", kInputMountPath}, {"readOnly", true}});
    volumes.push_back(
        {{"name", "input"}, {"secret", {{"secretName", input_secret}, {"defaultMode", 0440}}}});
  }
  mounts.push_back({{"name", "tmp"}, {"mountPath", "/tmp"}});
  volumes.push_back(
      {{"name", "tmp"},
       {"emptyDir", {{"medium", "Memory"}, {"sizeLimit", absl::StrCat(s.tmp_size.Value())}}}});
  json container = {
      {"name", api::kRunnerContainer},
      {"image", s.runner_image},
      {"imagePullPolicy", "IfNotPresent"},
      {"command", {kRunnerPath}},
      {"args", std::move(args)},
      {"resources", RunnerResources(limits, s)},
      {"securityContext",
       {{"allowPrivilegeEscalation", false},
        {"privileged", false},
        {"readOnlyRootFilesystem", true},
        {"runAsNonRoot", true},
        {"capabilities", {{"drop", {"ALL"}}}}}},
      {"volumeMounts", std::move(mounts)},
      {"terminationMessagePolicy", "File"}};
  if (input_secret.empty()) {
    container["stdin"] = true;
    container["stdinOnce"] = true;
  }
  json pod = {
      {"apiVersion", "v1"},
      {"kind", "Pod"},
      {"metadata", std::move(metadata)},
      {"spec",
       {{"restartPolicy", "Never"},
        {"automountServiceAccountToken", false},
        {"enableServiceLinks", false},
        {"hostNetwork", false},
        {"hostPID", false},
        {"hostIPC", false},
        {"terminationGracePeriodSeconds", 5},
        {"securityContext",
         {{"runAsNonRoot", true},
          {"runAsUser", run_uid},
          {"runAsGroup", run_uid},
          {"fsGroup", run_uid},
          {"seccompProfile", {{"type", "RuntimeDefault"}}}}},
        {"containers", {std::move(container)}},
        {"volumes", std::move(volumes)}}}};
  if (deadline_seconds) pod["spec"]["activeDeadlineSeconds"] = *deadline_seconds;
  return pod;
}

json BuildPod(const CodeRun& run, const ValidLimits& limits, const Settings& s,
              std::int64_t run_uid, const std::string& input_digest) {
  json args = {absl::StrCat("--input-dir=", kInputMountPath),
               absl::StrCat("--timeout-seconds=", limits.timeout_seconds),
               absl::StrCat("--pids=", limits.pids),
               absl::StrCat("--output-bytes=",
                            limits.judge ? limits.judge->case_share_bytes : limits.output_bytes),
               absl::StrCat("--input-digest=", input_digest)};
  if (limits.judge) {
    args.push_back("--tests");
    args.push_back(absl::StrCat("--case-stdout-bytes=", limits.judge->case_stdout_bytes));
    if (run.judge.stop_on_first_failure) args.push_back("--stop-on-failure");
    // The cases before it were judged when an earlier Pod's container was OOM-killed whole.
    if (run.next_case > 0) args.push_back(absl::StrCat("--first-case=", run.next_case));
  }
  json pod = RunnerPod(ObjectMeta(run), limits, s, run_uid, std::move(args),
                       PodName(run.name, run.uid), DeadlineSeconds(limits, s));
  AddPlacement(run, s, pod["spec"]);
  return pod;
}

}  // namespace coderun::reconcile
