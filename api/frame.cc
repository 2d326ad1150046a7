#include "api/frame.h"

#include <algorithm>
#include <charconv>
#include <exception>

namespace coderun::api::frame {
namespace {

using nlohmann::json;

// A length has at most this many digits (it fits a size_t; maxima are far below).
constexpr size_t kMaxDigits = 10;

bool Fail(std::string* error, std::string message) {
  if (error != nullptr) *error = std::move(message);
  return false;
}

// True if `digits` is a length as the framing writes it: decimal, no sign, no leading zeros.
bool ParseLength(std::string_view digits, size_t* length) {
  const bool ok = !digits.empty() && digits.size() <= kMaxDigits &&
                  (digits.size() == 1 || digits[0] != '0') &&
                  digits.find_first_not_of("0123456789") == std::string_view::npos;
  return ok &&
         std::from_chars(digits.data(), digits.data() + digits.size(), *length).ec == std::errc();
}

// True if `digits` (no newline yet) may still become a valid length.
bool MayBeLengthPrefix(std::string_view digits) {
  return digits.size() <= kMaxDigits &&
         digits.find_first_not_of("0123456789") == std::string_view::npos &&
         !(digits.size() > 1 && digits[0] == '0');
}

// True if the JSON text nests objects or arrays deeper than `max_depth` (strings are
// skipped, escapes included).
bool TooDeep(std::string_view text, int max_depth) {
  int depth = 0;
  bool in_string = false;
  for (size_t i = 0; i < text.size(); ++i) {
    const char c = text[i];
    if (in_string) {
      if (c == '\\') {
        ++i;
      } else if (c == '"') {
        in_string = false;
      }
    } else if (c == '"') {
      in_string = true;
    } else if (c == '{' || c == '[') {
      if (++depth > max_depth) return true;
    } else if (c == '}' || c == ']') {
      --depth;
    }
  }
  return false;
}

}  // namespace

std::string Make(std::string_view header, std::string_view body, std::string_view trailer) {
  std::string frame;
  frame.reserve(header.size() + 12 + body.size() + trailer.size());
  frame.append(header).append(std::to_string(body.size())).append("\n");
  frame.append(body).append("\n").append(trailer);
  return frame;
}

std::optional<Frame> Read(std::string_view data, const Format& format, const std::string& what,
                          std::string* error) {
  if (!data.starts_with(format.header)) {
    return Fail(error, what + (format.header.starts_with(data) ? " header cut short"
                                                               : " header missing")),
           std::nullopt;
  }
  std::string_view rest = data.substr(format.header.size());
  const size_t eol = rest.find('\n');
  if (eol == std::string_view::npos) {
    return Fail(error, what + (MayBeLengthPrefix(rest) ? " header cut short"
                                                       : " header has a malformed length")),
           std::nullopt;
  }
  size_t length = 0;
  if (!ParseLength(rest.substr(0, eol), &length)) {
    return Fail(error, what + " header has a malformed length"), std::nullopt;
  }
  if (length > format.max_body) return Fail(error, what + " too large"), std::nullopt;
  rest.remove_prefix(eol + 1);
  const size_t frame_rest = length + 1 + format.trailer.size();
  if (rest.size() < frame_rest) {
    const std::string has =
        format.data_name.empty() ? "" : std::string(format.data_name) + " has ";
    return Fail(error, what + " cut short: " + has + std::to_string(rest.size()) +
                           " bytes after the header, the frame needs " +
                           std::to_string(frame_rest)),
           std::nullopt;
  }
  if (rest[length] != '\n' || rest.substr(length + 1, format.trailer.size()) != format.trailer) {
    return Fail(error, what + " length does not match its end marker"), std::nullopt;
  }
  return Frame{rest.substr(0, length), format.header.size() + eol + 1 + frame_rest};
}

size_t BytesToRead(std::string_view prefix, const Format& format) {
  const std::string_view header = format.header;
  const size_t compared = std::min(prefix.size(), header.size());
  if (prefix.substr(0, compared) != header.substr(0, compared)) return 0;
  if (prefix.size() < header.size()) return header.size() - prefix.size();
  const std::string_view line = prefix.substr(header.size(), kMaxDigits + 1);
  const size_t eol = line.find('\n');
  if (eol == std::string_view::npos) return MayBeLengthPrefix(line) ? 1 : 0;
  size_t length = 0;
  if (!ParseLength(line.substr(0, eol), &length) || length > format.max_body) return 0;
  const size_t total = header.size() + eol + 1 + length + 1 + format.trailer.size();
  return total > prefix.size() ? total - prefix.size() : 0;
}

std::optional<json> ParseJson(std::string_view body, int max_depth, const std::string& what,
                              std::string* error) {
  if (TooDeep(body, max_depth)) return Fail(error, what + " JSON is nested too deep"), std::nullopt;
  try {
    json doc = json::parse(body, nullptr, /*allow_exceptions=*/false);
    if (doc.is_discarded()) return Fail(error, what + " is not valid JSON"), std::nullopt;
    return doc;
  } catch (const std::bad_alloc&) {
    throw;
  } catch (const std::exception& e) {
    return Fail(error, what + " JSON: " + e.what()), std::nullopt;
  }
}

}  // namespace coderun::api::frame
