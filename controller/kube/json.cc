// ParseJson, ParseListJson, DecodeWatchEvent and DropFields (declared in client.h).
#include <algorithm>
#include <exception>
#include <vector>

#include "absl/strings/str_cat.h"
#include "kube/client.h"

namespace coderun::kube {
namespace {

// A key as a JSON Pointer segment (RFC 6901): "~" -> "~0", "/" -> "~1".
void AppendSegment(std::string& path, std::string_view key) {
  path += '/';
  for (char c : key) {
    if (c == '~') {
      path += "~0";
    } else if (c == '/') {
      path += "~1";
    } else {
      path += c;
    }
  }
}

// Segments in the longest path of `drop` (paths deeper than this never match).
size_t MaxSegments(const DropKeys& drop) {
  size_t max = 0;
  for (const std::string& path : drop) {
    max = std::max<size_t>(max, std::count(path.begin(), path.end(), '/'));
  }
  return max;
}

// Parses `text`, dropping the fields at `drop` paths of each object found at `root` (a
// path of the whole text, "*" standing for every index of an array): {} is the text
// itself, {"object"} a watch event's object, {"items", "*"} each item of a list.
absl::StatusOr<json> Parse(std::string_view text, const DropKeys& drop,
                           const std::vector<std::string>& root) {
  try {
    if (drop.empty()) return json::parse(text.begin(), text.end());
    const size_t max_depth = root.size() + MaxSegments(drop);
    // path[i]: the key (or "*" inside an array) that leads into nesting level i + 1.
    std::vector<std::string> path;
    json::parser_callback_t callback = [&](int depth, json::parse_event_t event,
                                           json& parsed) {
      const auto level = static_cast<size_t>(depth);
      if (event == json::parse_event_t::array_start) {
        path.resize(level);
        path.push_back("*");
        return true;
      }
      if (event != json::parse_event_t::key) return true;
      // A key of the object at nesting level `level` (1 = the top-level object's keys).
      path.resize(level - 1);
      path.push_back(parsed.get<std::string>());
      if (path.size() <= root.size() || path.size() > max_depth ||
          !std::equal(root.begin(), root.end(), path.begin())) {
        return true;
      }
      std::string relative;
      for (size_t i = root.size(); i < path.size(); ++i) AppendSegment(relative, path[i]);
      // Returning false on the key event discards the key and its whole value.
      return !drop.contains(relative);
    };
    return json::parse(text.begin(), text.end(), callback);
  } catch (const json::exception& e) {
    return absl::InvalidArgumentError(absl::StrCat("malformed JSON: ", e.what()));
  } catch (const std::exception& e) {
    return absl::InvalidArgumentError(absl::StrCat("cannot parse JSON: ", e.what()));
  }
}

void DropIn(json& value, std::string& path, const DropKeys& drop, size_t depth_left) {
  if (depth_left == 0) return;
  const size_t length = path.size();
  if (value.is_object()) {
    for (auto it = value.begin(); it != value.end();) {
      AppendSegment(path, it.key());
      if (drop.contains(path)) {
        it = value.erase(it);
      } else {
        DropIn(*it, path, drop, depth_left - 1);
        ++it;
      }
      path.resize(length);
    }
  } else if (value.is_array()) {
    path += "/*";
    for (json& element : value) DropIn(element, path, drop, depth_left - 1);
    path.resize(length);
  }
}

bool KnownType(std::string_view type) {
  return type == "ADDED" || type == "MODIFIED" || type == "DELETED" || type == "BOOKMARK" ||
         type == "ERROR";
}

std::string Excerpt(std::string_view line) {
  constexpr size_t kMax = 120;
  std::string out(line.substr(0, kMax));
  for (char& c : out) {
    if (c == '\n' || c == '\r') c = ' ';
  }
  if (line.size() > kMax) out += "...";
  return out;
}

}  // namespace

absl::StatusOr<json> ParseJson(std::string_view text, const DropKeys& drop) {
  return Parse(text, drop, {});
}

absl::StatusOr<json> ParseListJson(std::string_view text, const DropKeys& drop) {
  return Parse(text, drop, {"items", "*"});
}

void DropFields(json& object, const DropKeys& drop) {
  if (drop.empty()) return;
  std::string path;
  DropIn(object, path, drop, MaxSegments(drop));
}

absl::StatusOr<WatchEvent> DecodeWatchEvent(std::string_view line, const DropKeys& drop) {
  // Paths apply to the event's object, never to the envelope ("type", "object").
  absl::StatusOr<json> parsed = Parse(line, drop, {"object"});
  if (!parsed.ok()) {
    return absl::InvalidArgumentError(absl::StrCat("watch event: ", parsed.status().message(),
                                                   " in line \"", Excerpt(line), "\""));
  }
  if (!parsed->is_object()) {
    return absl::InvalidArgumentError(
        absl::StrCat("watch event: not a JSON object: \"", Excerpt(line), "\""));
  }
  auto type = parsed->find("type");
  if (type == parsed->end() || !type->is_string()) {
    return absl::InvalidArgumentError(
        absl::StrCat("watch event: missing \"type\": \"", Excerpt(line), "\""));
  }
  WatchEvent event;
  event.type = type->get<std::string>();
  if (!KnownType(event.type)) {
    return absl::InvalidArgumentError(absl::StrCat("watch event: unknown type \"", event.type,
                                                   "\""));
  }
  auto object = parsed->find("object");
  if (object == parsed->end() || !object->is_object()) {
    return absl::InvalidArgumentError(absl::StrCat("watch event: ", event.type,
                                                   " without an object"));
  }
  event.object = std::move(*object);
  return event;
}

}  // namespace coderun::kube
