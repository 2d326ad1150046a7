// ParseJson, ParseListJson, DecodeWatchEvent and DropFields (declared in client.h).
#include <algorithm>
#include <map>
#include <string_view>
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

// The drop paths as a tree of keys ("*": every element of an array); a node marked `drop`
// is discarded with all it holds.
struct DropNode {
  std::map<std::string, DropNode, std::less<>> children;
  bool drop = false;

  const DropNode* Find(std::string_view key) const {
    auto it = children.find(key);
    return it == children.end() ? nullptr : &it->second;
  }
};

// A JSON Pointer segment unescaped (RFC 6901): "~1" -> "/", "~0" -> "~".
std::string Unescape(std::string_view segment) {
  std::string out;
  for (size_t i = 0; i < segment.size(); ++i) {
    if (segment[i] == '~' && i + 1 < segment.size() && (segment[i + 1] == '0' || segment[i + 1] == '1')) {
      out += segment[i + 1] == '0' ? '~' : '/';
      ++i;
    } else {
      out += segment[i];
    }
  }
  return out;
}

// The tree for `drop` under `root` (the path of the objects they apply to).
DropNode BuildDropTree(const DropKeys& drop, const std::vector<std::string>& root) {
  DropNode tree;
  for (const std::string& path : drop) {
    if (path.size() < 2 || path.front() != '/') continue;  // matches nothing
    DropNode* node = &tree;
    for (const std::string& key : root) node = &node->children[key];
    std::string_view rest(path);
    rest.remove_prefix(1);
    while (true) {
      const size_t slash = rest.find('/');
      node = &node->children[Unescape(rest.substr(0, slash))];
      if (slash == std::string_view::npos) break;
      rest.remove_prefix(slash + 1);
    }
    node->drop = true;
  }
  return tree;
}

// Builds the document from nlohmann's SAX events, never building what a drop path names
// (nlohmann's callback parser builds every value and calls a std::function per event; this
// is most of what a watch event costs).
class DomBuilder final : public nlohmann::json_sax<json> {
 public:
  explicit DomBuilder(const DropNode* tree) : tree_(tree) {}

  json& result() { return result_; }
  const std::string& error() const { return error_; }

  bool null() override { return Scalar(nullptr); }
  bool boolean(bool value) override { return Scalar(value); }
  bool number_integer(number_integer_t value) override { return Scalar(value); }
  bool number_unsigned(number_unsigned_t value) override { return Scalar(value); }
  bool number_float(number_float_t value, const string_t&) override { return Scalar(value); }
  bool string(string_t& value) override { return Scalar(value); }
  bool binary(binary_t& value) override { return Scalar(json::binary(value)); }

  bool start_object(std::size_t) override { return Open(json::value_t::object); }
  bool start_array(std::size_t) override { return Open(json::value_t::array); }
  bool end_object() override { return Close(); }
  bool end_array() override { return Close(); }

  bool key(string_t& key) override {
    if (skip_depth_ > 0) return true;
    Frame& f = stack_.back();
    const DropNode* child = f.node ? f.node->Find(key) : nullptr;
    if (child && child->drop) {
      skip_next_ = true;
      return true;
    }
    next_node_ = child;
    f.member = &(*f.value)[key];
    return true;
  }

  bool parse_error(std::size_t, const std::string&, const nlohmann::detail::exception& e) override {
    error_ = e.what();
    return false;
  }

 private:
  struct Frame {
    json* value;
    const DropNode* node;     // drop paths below this container; null: none
    json* member = nullptr;   // an object's slot for the value after the last key
  };

  // True when the value about to start is dropped (and forgets that it was).
  bool Dropped() {
    if (skip_next_) {
      skip_next_ = false;
      return true;
    }
    if (stack_.empty() || !stack_.back().value->is_array() || !stack_.back().node) return false;
    const DropNode* element = stack_.back().node->Find("*");
    return element && element->drop;
  }

  // Where the next value goes, and the drop paths below it.
  json* Place(json value, const DropNode** node) {
    if (stack_.empty()) {
      *node = tree_;
      result_ = std::move(value);
      return &result_;
    }
    Frame& f = stack_.back();
    if (f.value->is_array()) {
      *node = f.node ? f.node->Find("*") : nullptr;
      f.value->push_back(std::move(value));
      return &f.value->back();
    }
    *node = next_node_;
    *f.member = std::move(value);
    return f.member;
  }

  template <typename V>
  bool Scalar(V&& value) {
    if (skip_depth_ > 0 || Dropped()) return true;
    const DropNode* unused;
    Place(json(std::forward<V>(value)), &unused);
    return true;
  }

  bool Open(json::value_t type) {
    if (skip_depth_ > 0 || Dropped()) {
      ++skip_depth_;
      return true;
    }
    const DropNode* node;
    json* value = Place(json(type), &node);
    stack_.push_back({value, node});
    return true;
  }

  bool Close() {
    if (skip_depth_ > 0) {
      --skip_depth_;
    } else {
      stack_.pop_back();
    }
    return true;
  }

  const DropNode* tree_;
  json result_;
  std::vector<Frame> stack_;
  const DropNode* next_node_ = nullptr;
  bool skip_next_ = false;
  size_t skip_depth_ = 0;  // > 0 inside a dropped container
  std::string error_;
};

// Parses `text`, dropping the fields at `drop` paths of each object found at `root` (a
// path of the whole text, "*" standing for every index of an array): {} is the text
// itself, {"object"} a watch event's object, {"items", "*"} each item of a list.
absl::StatusOr<json> Parse(std::string_view text, const DropKeys& drop,
                           const std::vector<std::string>& root) {
  try {
    if (drop.empty()) return json::parse(text.begin(), text.end());
    const DropNode tree = BuildDropTree(drop, root);
    DomBuilder builder(&tree);
    if (!json::sax_parse(text.begin(), text.end(), &builder)) {
      return absl::InvalidArgumentError(absl::StrCat("malformed JSON: ", builder.error()));
    }
    return std::move(builder.result());
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
