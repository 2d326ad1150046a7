#include "informer/informer.h"

namespace coderun::informer {

std::string KeyOf(const kube::json& object) {
  if (!object.is_object()) return "";
  auto meta = object.find("metadata");
  if (meta == object.end() || !meta->is_object()) return "";
  auto name = meta->find("name");
  if (name == meta->end() || !name->is_string() || name->get_ref<const std::string&>().empty()) {
    return "";
  }
  auto ns = meta->find("namespace");
  if (ns == meta->end() || !ns->is_string() || ns->get_ref<const std::string&>().empty()) {
    return name->get<std::string>();
  }
  return ns->get<std::string>() + "/" + name->get<std::string>();
}

std::pair<std::string, std::string> SplitKey(std::string_view key) {
  size_t slash = key.find('/');
  if (slash == std::string_view::npos) return {"", std::string(key)};
  return {std::string(key.substr(0, slash)), std::string(key.substr(slash + 1))};
}

}  // namespace coderun::informer
