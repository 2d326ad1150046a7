#include "reconcile/output.h"

namespace coderun::reconcile {
namespace {

// Encoded size of the character starting at utf8[i], and its length in bytes.
size_t CharCost(std::string_view utf8, size_t i, size_t* len) {
  const auto c = static_cast<unsigned char>(utf8[i]);
  *len = 1;
  if (c < 0x80) {
    if (c == '"' || c == '\\' || c == '\n' || c == '\r' || c == '\t') return 2;
    if (c < 0x20 || c == '<' || c == '>' || c == '&') return 6;
    return 1;
  }
  *len = c >= 0xf0 ? 4 : c >= 0xe0 ? 3 : 2;
  if (i + *len > utf8.size()) *len = utf8.size() - i;  // tolerate a cut tail
  if (*len == 3 && c == 0xe2 && static_cast<unsigned char>(utf8[i + 1]) == 0x80 &&
      (static_cast<unsigned char>(utf8[i + 2]) == 0xa8 ||
       static_cast<unsigned char>(utf8[i + 2]) == 0xa9)) {
    return 6;  // U+2028, U+2029
  }
  return *len;
}

}  // namespace

size_t ApiEncodedSize(std::string_view utf8) {
  size_t total = 0;
  for (size_t i = 0, len = 0; i < utf8.size(); i += len) total += CharCost(utf8, i, &len);
  return total;
}

size_t StoredSize(const kube::json& value) {
  switch (value.type()) {
    case kube::json::value_t::object: {
      size_t total = 2 + (value.empty() ? 0 : value.size() - 1);  // braces, commas
      for (const auto& [key, item] : value.items()) {
        total += ApiEncodedSize(std::string_view(key)) + 3 + StoredSize(item);  // "k":
      }
      return total;
    }
    case kube::json::value_t::array: {
      size_t total = 2 + (value.empty() ? 0 : value.size() - 1);
      for (const auto& item : value) total += StoredSize(item);
      return total;
    }
    case kube::json::value_t::string:
      return ApiEncodedSize(std::string_view(value.get_ref<const std::string&>())) + 2;
    default:
      return value.dump().size();  // numbers, booleans, null
  }
}

bool CutToEncodedSize(std::string& utf8, size_t cap) {
  size_t total = 0;
  for (size_t i = 0, len = 0; i < utf8.size(); i += len) {
    size_t cost = CharCost(utf8, i, &len);
    if (total + cost > cap) {
      utf8.resize(i);
      return true;
    }
    total += cost;
  }
  return false;
}

}  // namespace coderun::reconcile
