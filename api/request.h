// A run's request: the input of a warm Pod's runner (runner --await-request), which has no
// Secret of its own. The controller writes one frame to the container's stdin through
// `pods/attach`:
//
//   coderun-request/v1 <N>\n     N: decimal byte length of the JSON document, no sign, no
//   <JSON document, N bytes>\n        leading zeros, at most kMaxRequestJsonBytes
//   coderun-request-end\n
//
// The JSON is one object, nested no deeper than 3, with the members
//   nonce   string            the controller's random value, 16..128 bytes, bound into the
//                             digest and never shown to the program
//   code    string            Python source
//   stdin   string            the program's standard input
//   args    array of strings  sys.argv[1:], no NUL byte in any
// Unknown members are ignored. A frame cut short (the stream ended, or the writer died) is
// refused as a whole: a half-delivered request never runs.
//
// Whoever may attach to the Pod may write a request first. The runner's report therefore
// carries RequestDigest of the request it took (Report::input_digest), and the controller
// trusts a report only if that is the digest of the request it sent: the nonce makes it
// one that nobody else can produce.
#pragma once

#include <cstddef>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

namespace coderun::api {

inline constexpr std::string_view kRequestHeader = "coderun-request/v1 ";
inline constexpr std::string_view kRequestTrailer = "coderun-request-end\n";
inline constexpr size_t kMaxRequestJsonBytes = 4 << 20;
// The largest frame: header, 7 digits, the document and the end marker.
inline constexpr size_t kMaxRequestFrameBytes =
    kRequestHeader.size() + 7 + 1 + kMaxRequestJsonBytes + 1 + kRequestTrailer.size();
inline constexpr size_t kMinNonceBytes = 16;
inline constexpr size_t kMaxNonceBytes = 128;

struct Request {
  std::string nonce;
  std::string code;
  std::string stdin_data;
  std::vector<std::string> args;

  bool operator==(const Request&) const = default;
};

// Returns the frame of `request`. Strings that are not valid UTF-8 are repaired (U+FFFD)
// first. The result parses back to `request` iff the request is valid: every string valid
// UTF-8, a nonce of kMinNonceBytes..kMaxNonceBytes, no NUL in an argument, and a document
// of at most kMaxRequestJsonBytes (not more than kMaxRequestFrameBytes in all). Never throws
// except std::bad_alloc.
std::string FormatRequest(const Request& request);

// Parses exactly one request frame, with nothing after it. Returns nullopt and sets *error
// (if not null) to a one-line reason when `data` is empty, does not start with the header,
// is cut short (a torn frame), has a malformed or too large length, a trailer not where the
// length says, bytes after the frame, a document that is not a JSON object (or nests deeper
// than 3), a member missing or of the wrong type, a nonce of the wrong size, or a NUL byte in
// an argument. Total, linear in data.size(), never throws except std::bad_alloc.
std::optional<Request> ParseRequest(std::string_view data, std::string* error);

// For a reader of a stream that may carry more than the frame (runner --await-request): how
// many more bytes to read, given the first bytes of the stream in `prefix`, so that it
// never reads past the trailer: the fixed header at once, one byte at a time up to the end
// of the header line, then the rest of the frame at once. 0 once `prefix` holds a whole
// frame, or as soon as it cannot begin a valid one (ParseRequest then says why). The bytes
// read never exceed kMaxRequestFrameBytes. Looks only at the header line.
size_t RequestBytesToRead(std::string_view prefix);

// InputDigest (input_digest.h) of the request's nonce, code, stdin and args, where args
// counts as its compact JSON text exactly as the controller's Secret path writes args.json
// (nlohmann's dump() of the array of strings): a request and a Secret with the same input
// and nonce have the same digest (an argument that is not valid UTF-8, which no request
// carries, counts as repaired with U+FFFD). Never throws except std::bad_alloc.
std::string RequestDigest(const Request& request);

}  // namespace coderun::api
