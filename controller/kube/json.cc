// ParseJson and DecodeWatchEvent (declared in client.h).
#include <exception>

#include "absl/strings/str_cat.h"
#include "kube/client.h"

namespace coderun::kube {
namespace {

// Parses `text`; object keys in `drop` at depth >= min_depth (1 = keys of the top-level
// object) are skipped with their values.
absl::StatusOr<json> Parse(std::string_view text, const DropKeys& drop, int min_depth) {
  try {
    if (drop.empty()) return json::parse(text.begin(), text.end());
    json::parser_callback_t callback = [&drop, min_depth](int depth, json::parse_event_t event,
                                                          json& parsed) {
      if (event != json::parse_event_t::key || depth < min_depth) return true;
      // Returning false on the key event discards the key and its whole value.
      return !drop.contains(parsed.get_ref<const std::string&>());
    };
    return json::parse(text.begin(), text.end(), callback);
  } catch (const json::exception& e) {
    return absl::InvalidArgumentError(absl::StrCat("malformed JSON: ", e.what()));
  } catch (const std::exception& e) {
    return absl::InvalidArgumentError(absl::StrCat("cannot parse JSON: ", e.what()));
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
  return Parse(text, drop, /*min_depth=*/1);
}

absl::StatusOr<WatchEvent> DecodeWatchEvent(std::string_view line, const DropKeys& drop) {
  // The envelope's own keys ("type", "object") are never dropped.
  absl::StatusOr<json> parsed = Parse(line, drop, /*min_depth=*/2);
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
