// Reading the metadata every API object (and every list) carries.
#pragma once

#include <string>

#include "nlohmann/json.hpp"

namespace coderun::kube {

// metadata.resourceVersion of an object or a list, "" when it has none. Never throws.
std::string ResourceVersionOf(const nlohmann::json& object);

}  // namespace coderun::kube
