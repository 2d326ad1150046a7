#include "api/utf8.h"

namespace coderun::api {
namespace {

bool InRange(unsigned char c, unsigned char lo, unsigned char hi) { return c >= lo && c <= hi; }

// Encoded size of one well-formed unit (or U+FFFD) as JSON string content.
size_t UnitJsonSize(std::string_view unit) {
  if (unit.size() != 1) return unit.size();
  const auto c = static_cast<unsigned char>(unit[0]);
  switch (c) {
    case '"':
    case '\\':
    case '\b':
    case '\f':
    case '\n':
    case '\r':
    case '\t':
      return 2;
    default:
      return c < 0x20 ? 6 : 1;
  }
}

}  // namespace

Utf8Unit NextUtf8Unit(std::string_view bytes, size_t pos) {
  const auto lead = static_cast<unsigned char>(bytes[pos]);
  if (lead < 0x80) return {1, true};
  // Allowed range of the second byte, and total length, per lead byte (table 3-7).
  unsigned char lo = 0x80, hi = 0xBF;
  size_t need = 0;
  if (InRange(lead, 0xC2, 0xDF)) {
    need = 2;
  } else if (lead == 0xE0) {
    need = 3, lo = 0xA0;
  } else if (InRange(lead, 0xE1, 0xEC) || InRange(lead, 0xEE, 0xEF)) {
    need = 3;
  } else if (lead == 0xED) {
    need = 3, hi = 0x9F;
  } else if (lead == 0xF0) {
    need = 4, lo = 0x90;
  } else if (InRange(lead, 0xF1, 0xF3)) {
    need = 4;
  } else if (lead == 0xF4) {
    need = 4, hi = 0x8F;
  } else {
    return {1, false};  // 80..C1, F5..FF never start a sequence
  }
  size_t len = 1;
  while (len < need) {
    if (pos + len >= bytes.size()) return {len, false};
    const auto c = static_cast<unsigned char>(bytes[pos + len]);
    if (!(len == 1 ? InRange(c, lo, hi) : InRange(c, 0x80, 0xBF))) return {len, false};
    ++len;
  }
  return {len, true};
}

std::string SanitizeUtf8(std::string_view bytes) {
  std::string out;
  out.reserve(bytes.size());
  for (size_t pos = 0; pos < bytes.size();) {
    const Utf8Unit unit = NextUtf8Unit(bytes, pos);
    if (unit.valid) {
      out.append(bytes.substr(pos, unit.length));
    } else {
      out.append(kReplacementChar);
    }
    pos += unit.length;
  }
  return out;
}

size_t JsonEncodedSize(std::string_view utf8) {
  size_t size = 0;
  for (char c : utf8) size += UnitJsonSize(std::string_view(&c, 1));
  return size;
}

CutText CutToEncodedSize(std::string_view raw, size_t max_encoded) {
  CutText cut;
  size_t encoded = 0;
  for (size_t pos = 0; pos < raw.size();) {
    const Utf8Unit unit = NextUtf8Unit(raw, pos);
    const std::string_view text = unit.valid ? raw.substr(pos, unit.length) : kReplacementChar;
    const size_t size = UnitJsonSize(text);
    if (encoded + size > max_encoded) break;
    encoded += size;
    cut.text.append(text);
    pos += unit.length;
    cut.raw_bytes = pos;
  }
  return cut;
}

}  // namespace coderun::api
