// The run Pods' placement flags (--runtime-class-name, --image-pull-secret, --node-selector,
// --tolerations, --priority-class-name): parsed and checked at startup, so a bad value stops
// the controller with one line instead of failing every run's Pod creation.
#pragma once

#include <map>
#include <string>
#include <vector>

#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "nlohmann/json.hpp"
#include "reconcile/settings.h"

namespace coderun::app {

// True for a DNS-1123 subdomain (what Kubernetes wants for most object names).
bool IsDnsSubdomain(const std::string& name);
// True for a label key: an optional DNS subdomain prefix and '/', then a name of at most 63
// alphanumerics, '-', '_' or '.', starting and ending alphanumeric.
bool IsQualifiedName(const std::string& key);
// True for a label value: empty, or at most 63 characters as a qualified name's name part.
bool IsLabelValue(const std::string& value);

// "KEY=VALUE" items into a map. InvalidArgument (one line, naming --node-selector) for an
// item without '=', a bad key or value, or a key given twice.
absl::StatusOr<std::map<std::string, std::string>> ParseNodeSelector(
    const std::vector<std::string>& items);

// A JSON array of core/v1 Toleration objects ("" = none, an empty array). InvalidArgument
// (one line, naming --tolerations) for invalid JSON, a non-array, a non-object element, an
// unknown field or wrong type, or a combination the apiserver refuses (operator Exists with a
// value, an empty key without Exists, tolerationSeconds without effect NoExecute).
absl::StatusOr<nlohmann::json> ParseTolerations(const std::string& text);

// Fills settings->node_selector and settings->tolerations from the flags' text and checks
// the names already in `settings` (runtime class, priority class, image pull secrets).
absl::Status CheckPlacement(const std::vector<std::string>& node_selector,
                            const std::string& tolerations, reconcile::Settings* settings);

}  // namespace coderun::app
