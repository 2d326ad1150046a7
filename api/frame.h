// The framing shared by the report, case and request formats (report.h, request.h):
//
//   <header><N>\n<body, N bytes>\n<trailer>
//
// N is the body's decimal byte length: no sign, no leading zeros, at most a format's own
// maximum. The body is one JSON document. Internal to api/: the formats' headers are the
// contract, this is how they are read and written.
#pragma once

#include <cstddef>
#include <optional>
#include <string>
#include <string_view>

#include <nlohmann/json.hpp>

namespace coderun::api::frame {

// Returns the frame holding `body`.
std::string Make(std::string_view header, std::string_view body, std::string_view trailer);

// One framed format.
struct Format {
  std::string_view header;
  std::string_view trailer;
  size_t max_body;
  // What the data read is called in errors ("log": "... cut short: log has N bytes ..."),
  // or "" for nothing.
  std::string_view data_name;
};

// A frame at the start of some data: its body, and how many bytes of the data it spans.
struct Frame {
  std::string_view body;
  size_t size = 0;
};

// Reads the frame at the start of `data` (bytes after it are the caller's). Returns nullopt
// and sets *error (if not null) to a one-line reason, naming the frame `what` ("report",
// "case frame 3"), when the header is missing or cut short, the length is malformed or above
// format.max_body, the data ends before the frame does, or the trailer is not where the length
// says. Linear in the frame's size.
std::optional<Frame> Read(std::string_view data, const Format& format, const std::string& what,
                          std::string* error);

// For a reader that must not consume a byte past the frame (the frame arrives on a stream
// that may carry more): how many more bytes to read, given the first bytes of the stream in
// `prefix`: format.header at once, one byte at a time up to the end of the header line,
// then the rest of the frame at once. 0 once `prefix` holds the whole frame, or as soon as
// it cannot begin a valid one (wrong header, malformed length, length above max_body): Read
// then says why. Never more than a frame of max_body bytes in all. Looks only at the header
// line.
size_t BytesToRead(std::string_view prefix, const Format& format);

// Parses the JSON `body`, refusing nesting deeper than `max_depth` first (keeps nlohmann's
// recursion bounded). Returns nullopt with *error (if not null) set on failure. Never throws
// except std::bad_alloc.
std::optional<nlohmann::json> ParseJson(std::string_view body, int max_depth,
                                        const std::string& what, std::string* error);

}  // namespace coderun::api::frame
