#include "reconcile/pod.h"

#include <openssl/evp.h>
#include <openssl/rand.h>
#include <openssl/sha.h>

#include <algorithm>
#include <chrono>
#include <cmath>
#include <cstring>

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

RunInput MakeRunInput(const json& spec) {
  auto text = [&](const char* key) {
    auto it = spec.find(key);
    return it != spec.end() && it->is_string() ? it->get<std::string>() : std::string();
  };
  RunInput in;
  in.code = text("code");
  in.stdin_data = text("stdin");
  in.args_json = (spec.contains("args") && spec["args"].is_array() ? spec["args"] : json::array()).dump();
  unsigned char random[16];
  if (RAND_bytes(random, sizeof(random)) != 1) {
    // No entropy (never seen on Linux): a nonce from the clock still binds the digest; it
    // only no longer hides a guessed input from someone reading Pods.
    const auto now = std::chrono::steady_clock::now().time_since_epoch().count();
    std::memcpy(random, &now, std::min(sizeof(now), sizeof(random)));
  }
  in.nonce = Hex(random, sizeof(random));
  in.digest = api::InputDigest(in.nonce, in.code, in.stdin_data, in.args_json);
  return in;
}

std::optional<std::string> InputProblem(const json& spec) {
  auto args = spec.find("args");
  if (args == spec.end() || !args->is_array()) return std::nullopt;
  for (size_t i = 0; i < args->size(); ++i) {
    const json& a = (*args)[i];
    if (a.is_string() && a.get_ref<const std::string&>().find('\0') != std::string::npos) {
      return absl::StrCat("spec.args[", i, "] contains a NUL byte, which no program argument can hold");
    }
  }
  return std::nullopt;
}

json BuildSecret(const CodeRun& run, const RunInput& input) {
  return {{"apiVersion", "v1"},
          {"kind", "Secret"},
          {"metadata", ObjectMeta(run)},
          {"type", "Opaque"},
          {"immutable", true},
          {"stringData",
           {{"code", input.code},
            {"stdin", input.stdin_data},
            {"args.json", input.args_json},
            {"nonce", input.nonce}}}};
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

json BuildPod(const CodeRun& run, const ValidLimits& limits, const Settings& s,
              std::int64_t run_uid, const std::string& input_digest) {
  const std::string name = PodName(run.name, run.uid);
  json container = {
      {"name", api::kRunnerContainer},
      {"image", s.runner_image},
      {"imagePullPolicy", "IfNotPresent"},
      {"command", {kRunnerPath}},
      {"args",
       {absl::StrCat("--input-dir=", kInputMountPath),
        absl::StrCat("--timeout-seconds=", limits.timeout_seconds),
        absl::StrCat("--pids=", limits.pids), absl::StrCat("--output-bytes=", limits.output_bytes),
        absl::StrCat("--input-digest=", input_digest)}},
      {"resources", RunnerResources(limits, s)},
      {"securityContext",
       {{"allowPrivilegeEscalation", false},
        {"privileged", false},
        {"readOnlyRootFilesystem", true},
        {"runAsNonRoot", true},
        {"capabilities", {{"drop", {"ALL"}}}}}},
      {"volumeMounts",
       {{{"name", "input"}, {"mountPath", kInputMountPath}, {"readOnly", true}},
        {{"name", "tmp"}, {"mountPath", "/tmp"}}}},
      {"terminationMessagePolicy", "File"}};
  json pod = {
      {"apiVersion", "v1"},
      {"kind", "Pod"},
      {"metadata", ObjectMeta(run)},
      {"spec",
       {{"restartPolicy", "Never"},
        {"activeDeadlineSeconds", limits.timeout_seconds + s.deadline_margin_seconds},
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
        {"containers", {container}},
        {"volumes",
         {{{"name", "input"}, {"secret", {{"secretName", name}, {"defaultMode", 0440}}}},
          {{"name", "tmp"},
           {"emptyDir", {{"medium", "Memory"}, {"sizeLimit", absl::StrCat(s.tmp_size.Value())}}}}}}}}};
  AddPlacement(run, s, pod["spec"]);
  return pod;
}

}  // namespace coderun::reconcile
