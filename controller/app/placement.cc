#include "app/placement.h"

#include <set>

#include "absl/strings/ascii.h"
#include "absl/strings/str_cat.h"

namespace coderun::app {
namespace {

using nlohmann::json;

// Messages are one line whatever the user typed.
absl::Status Bad(const std::string& message) {
  std::string line = message;
  for (char& c : line) {
    if (c == '\n' || c == '\r') c = ' ';
  }
  return absl::InvalidArgumentError(line);
}

bool IsAlnum(char c) { return absl::ascii_isalnum(static_cast<unsigned char>(c)); }

// 1..63 characters: alphanumerics, '-', '_', '.', alphanumeric at both ends.
bool IsName63(const std::string& name) {
  if (name.empty() || name.size() > 63 || !IsAlnum(name.front()) || !IsAlnum(name.back())) {
    return false;
  }
  for (char c : name) {
    if (!IsAlnum(c) && c != '-' && c != '_' && c != '.') return false;
  }
  return true;
}

absl::Status CheckToleration(const json& t, size_t index) {
  const std::string where = absl::StrCat("--tolerations: element ", index);
  if (!t.is_object()) return Bad(absl::StrCat(where, " is not an object"));
  static const std::set<std::string> kStringFields = {"key", "operator", "value", "effect"};
  for (const auto& [field, value] : t.items()) {
    if (kStringFields.count(field)) {
      if (!value.is_string()) return Bad(absl::StrCat(where, ": ", field, " is not a string"));
    } else if (field == "tolerationSeconds") {
      if (!value.is_number_integer()) {
        return Bad(absl::StrCat(where, ": tolerationSeconds is not an integer"));
      }
    } else {
      return Bad(absl::StrCat(where, ": unknown field \"", field,
                              "\" (want key, operator, value, effect, tolerationSeconds)"));
    }
  }
  const std::string key = t.value("key", "");
  const std::string op = t.value("operator", "");
  const std::string value = t.value("value", "");
  const std::string effect = t.value("effect", "");
  if (op != "" && op != "Equal" && op != "Exists") {
    return Bad(absl::StrCat(where, ": operator \"", op, "\" is not Equal or Exists"));
  }
  if (effect != "" && effect != "NoSchedule" && effect != "PreferNoSchedule" &&
      effect != "NoExecute") {
    return Bad(absl::StrCat(where, ": effect \"", effect,
                            "\" is not NoSchedule, PreferNoSchedule or NoExecute"));
  }
  if (!key.empty() && !IsQualifiedName(key)) {
    return Bad(absl::StrCat(where, ": key \"", key, "\" is not a valid label key"));
  }
  if (key.empty() && op != "Exists") {
    return Bad(absl::StrCat(where, ": an empty key needs operator Exists"));
  }
  if (op == "Exists" && !value.empty()) {
    return Bad(absl::StrCat(where, ": operator Exists takes no value"));
  }
  if (op != "Exists" && !IsLabelValue(value)) {
    return Bad(absl::StrCat(where, ": value \"", value, "\" is not a valid label value"));
  }
  if (t.contains("tolerationSeconds") && effect != "NoExecute") {
    return Bad(absl::StrCat(where, ": tolerationSeconds needs effect NoExecute"));
  }
  return absl::OkStatus();
}

}  // namespace

bool IsDnsSubdomain(const std::string& name) {
  if (name.empty() || name.size() > 253) return false;
  size_t start = 0;
  while (true) {
    size_t dot = name.find('.', start);
    const size_t end = dot == std::string::npos ? name.size() : dot;
    const std::string label = name.substr(start, end - start);
    if (label.empty() || label.front() == '-' || label.back() == '-') return false;
    for (char c : label) {
      if (!absl::ascii_isdigit(static_cast<unsigned char>(c)) &&
          !(c >= 'a' && c <= 'z') && c != '-') {
        return false;
      }
    }
    if (dot == std::string::npos) return true;
    start = dot + 1;
  }
}

bool IsQualifiedName(const std::string& key) {
  const size_t slash = key.find('/');
  if (slash == std::string::npos) return IsName63(key);
  return IsDnsSubdomain(key.substr(0, slash)) && IsName63(key.substr(slash + 1));
}

bool IsLabelValue(const std::string& value) { return value.empty() || IsName63(value); }

absl::StatusOr<std::map<std::string, std::string>> ParseNodeSelector(
    const std::vector<std::string>& items) {
  std::map<std::string, std::string> out;
  for (const std::string& item : items) {
    const size_t eq = item.find('=');
    if (eq == std::string::npos) {
      return Bad(absl::StrCat("--node-selector ", item, ": want KEY=VALUE"));
    }
    std::string key = item.substr(0, eq), value = item.substr(eq + 1);
    if (!IsQualifiedName(key)) {
      return Bad(absl::StrCat("--node-selector ", item, ": \"", key,
                              "\" is not a valid label key"));
    }
    if (!IsLabelValue(value)) {
      return Bad(absl::StrCat("--node-selector ", item, ": \"", value,
                              "\" is not a valid label value (at most 63 of [A-Za-z0-9-_.])"));
    }
    if (!out.emplace(key, value).second) {
      return Bad(absl::StrCat("--node-selector ", item, ": key \"", key, "\" given twice"));
    }
  }
  return out;
}

absl::StatusOr<json> ParseTolerations(const std::string& text) {
  if (absl::StripAsciiWhitespace(text).empty()) return json::array();
  json parsed;
  try {
    parsed = json::parse(text);
  } catch (const json::parse_error& e) {
    return Bad(absl::StrCat("--tolerations: not valid JSON (at byte ", e.byte, ")"));
  }
  if (!parsed.is_array()) return Bad("--tolerations: want a JSON array of Toleration objects");
  for (size_t i = 0; i < parsed.size(); ++i) {
    if (absl::Status st = CheckToleration(parsed[i], i); !st.ok()) return st;
  }
  return parsed;
}

absl::Status CheckPlacement(const std::vector<std::string>& node_selector,
                            const std::string& tolerations, reconcile::Settings* settings) {
  auto check_name = [](const char* flag, const std::string& name) {
    if (name.empty() || IsDnsSubdomain(name)) return absl::OkStatus();
    return Bad(absl::StrCat(flag, " ", name,
                            ": not a valid name (lowercase letters, digits, '-' and '.')"));
  };
  if (auto st = check_name("--runtime-class-name", settings->runtime_class_name); !st.ok()) {
    return st;
  }
  if (auto st = check_name("--priority-class-name", settings->priority_class_name); !st.ok()) {
    return st;
  }
  for (const std::string& secret : settings->image_pull_secrets) {
    if (secret.empty()) return Bad("--image-pull-secret: empty name");
    if (auto st = check_name("--image-pull-secret", secret); !st.ok()) return st;
  }
  auto selector = ParseNodeSelector(node_selector);
  if (!selector.ok()) return selector.status();
  auto parsed = ParseTolerations(tolerations);
  if (!parsed.ok()) return parsed.status();
  settings->node_selector = *std::move(selector);
  settings->tolerations = *std::move(parsed);
  return absl::OkStatus();
}

}  // namespace coderun::app
