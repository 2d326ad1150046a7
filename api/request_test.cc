#include "api/request.h"

#include <gtest/gtest.h>

#include <nlohmann/json.hpp>

#include "api/input_digest.h"

namespace coderun::api {
namespace {

using nlohmann::json;

// Arguments a JSON encoder can get wrong: quotes, escapes, control characters, DEL,
// non-ASCII, U+2028, a character outside the BMP, the empty string.
const std::vector<std::string> kTrickyArgs = {
    "", "a b", "\"quoted\" \\ /", "\x01\x1f\x7f\b\f\n\r\t", "\xC3\xBC",
    "\xE2\x80\xA8", "\xF0\x9F\x98\x80", "{\"k\": [1]}"};

Request Sample() {
  return Request{.nonce = "0123456789abcdef0123456789abcdef",
                 .code = "import sys\nprint(input().upper(), sys.argv)\n",
                 .stdin_data = "hello\n\"\x01\xC3\xA9",
                 .args = kTrickyArgs};
}

std::string Parse(std::string_view data) {
  std::string error;
  return ParseRequest(data, &error) ? "ok" : error;
}

// A frame around `doc` with the length `length` (the document's own if empty).
std::string Frame(const std::string& doc, std::string length = "") {
  if (length.empty()) length = std::to_string(doc.size());
  return std::string(kRequestHeader) + length + "\n" + doc + "\n" + std::string(kRequestTrailer);
}

// The JSON document of a request frame.
std::string DocOf(const std::string& frame) {
  const size_t start = frame.find('\n') + 1;
  return frame.substr(start, frame.size() - start - 1 - kRequestTrailer.size());
}

// What a reader that asks RequestBytesToRead before every read takes from `stream`.
std::string ReadLikeTheRunner(std::string_view stream) {
  std::string taken;
  for (size_t want; (want = RequestBytesToRead(taken)) > 0 && taken.size() < stream.size();) {
    taken.append(stream.substr(taken.size(), want));
  }
  return taken;
}

TEST(RequestTest, RoundTrips) {
  const std::string frame = FormatRequest(Sample());
  std::string error;
  auto parsed = ParseRequest(frame, &error);
  ASSERT_TRUE(parsed) << error;
  EXPECT_EQ(*parsed, Sample());
  EXPECT_TRUE(frame.starts_with("coderun-request/v1 "));
  EXPECT_TRUE(frame.ends_with("]}\ncoderun-request-end\n"));
  EXPECT_EQ(frame.find('\n'), frame.find("\n{"));  // the document is one line

  Request empty = Sample();
  empty.code = empty.stdin_data = "";
  empty.args.clear();
  parsed = ParseRequest(FormatRequest(empty), &error);
  ASSERT_TRUE(parsed) << error;
  EXPECT_EQ(*parsed, empty);
}

TEST(RequestTest, EveryCutPointIsRefused) {
  const std::string frame = FormatRequest(Sample());
  EXPECT_EQ(Parse(""), "empty: no request");
  for (size_t n = 1; n < frame.size(); ++n) {
    EXPECT_NE(Parse(frame.substr(0, n)), "ok") << n;
    // A reader is never told it has it all before the frame is whole.
    EXPECT_GT(RequestBytesToRead(frame.substr(0, n)), 0u) << n;
  }
  EXPECT_EQ(RequestBytesToRead(frame), 0u);
  EXPECT_EQ(Parse(frame.substr(0, kRequestHeader.size() + 2)), "request header cut short");
  EXPECT_EQ(Parse(frame.substr(0, frame.size() - 1)),
            "request cut short: " + std::to_string(frame.size() - frame.find('\n') - 2) +
                " bytes after the header, the frame needs " +
                std::to_string(frame.size() - frame.find('\n') - 1));
}

TEST(RequestTest, BytesAfterTheFrameAreRefusedButAReaderNeverTakesThem) {
  const std::string frame = FormatRequest(Sample());
  Request second = Sample();
  second.code = "print('second')\n";
  const std::string glued = frame + FormatRequest(second);
  EXPECT_EQ(Parse(frame + "\n"), "1 bytes after the request frame");
  EXPECT_EQ(Parse(glued), std::to_string(glued.size() - frame.size()) +
                              " bytes after the request frame");
  EXPECT_EQ(ReadLikeTheRunner(glued), frame);
  EXPECT_EQ(ReadLikeTheRunner(frame + "garbage"), frame);
}

TEST(RequestTest, BadLengthsAreRefused) {
  const std::string doc = DocOf(FormatRequest(Sample()));
  const std::string size = std::to_string(doc.size());
  ASSERT_EQ(Parse(Frame(doc)), "ok");
  for (const std::string& length : {"0" + size, "+" + size, " " + size, size + " ",
                                    std::string("0x10"), std::string("-1")}) {
    EXPECT_EQ(Parse(Frame(doc, length)), "request header has a malformed length") << length;
  }
  EXPECT_EQ(Parse(std::string(kRequestHeader) + "\n" + doc + "\n" + std::string(kRequestTrailer)),
            "request header has a malformed length");
  EXPECT_EQ(Parse(Frame(doc, std::to_string(doc.size() - 1))),
            "request length does not match its end marker");
  EXPECT_EQ(Parse(Frame(doc, std::to_string(doc.size() + 1)) + "x"),
            "request length does not match its end marker");
  EXPECT_NE(Parse(Frame(doc, std::to_string(doc.size() + 1))).find("request cut short"),
            std::string::npos);
  EXPECT_EQ(Parse(Frame(doc, std::to_string(kMaxRequestJsonBytes + 1))), "request too large");
  EXPECT_EQ(Parse(Frame(doc, "99999999999")), "request header has a malformed length");
  // What a reader stopped at (RequestBytesToRead said 0) reads as the reason it stopped.
  const std::string header(kRequestHeader);
  EXPECT_EQ(Parse(header + "012"), "request header has a malformed length");
  EXPECT_EQ(Parse(header + "1x"), "request header has a malformed length");
  EXPECT_EQ(Parse(header + std::string(11, '9')), "request header has a malformed length");
  EXPECT_EQ(Parse(header + std::to_string(kMaxRequestJsonBytes + 1) + "\n"), "request too large");
  EXPECT_EQ(Parse(header + "12"), "request header cut short");
  EXPECT_EQ(Parse(header), "request header cut short");
  EXPECT_EQ(Parse(header.substr(0, 5)), "request header cut short");
  EXPECT_EQ(Parse("coderun-report/v1 2\n{}\ncoderun-report-end\n"), "request header missing");
  EXPECT_EQ(Parse("GET / HTTP/1.1\r\n"), "request header missing");
}

TEST(RequestTest, AReaderStopsAsSoonAsTheStreamCannotBeARequest) {
  // Each of these is refused from its first line, so a reader waits for nothing more.
  const std::string header(kRequestHeader);
  EXPECT_EQ(RequestBytesToRead("GET\n"), 0u);
  EXPECT_EQ(RequestBytesToRead(header.substr(0, 5) + "X"), 0u);
  EXPECT_EQ(RequestBytesToRead(header.substr(0, 5)), header.size() - 5);
  const std::string garbage = "GET / HTTP/1.1\r\n" + std::string(100, 'x');
  EXPECT_EQ(ReadLikeTheRunner(garbage), garbage.substr(0, header.size()));
  EXPECT_EQ(ReadLikeTheRunner(header + "01" + std::string(100, '1')), header + "01");
  EXPECT_EQ(ReadLikeTheRunner(header + "12a" + std::string(100, '1')), header + "12a");
  EXPECT_EQ(ReadLikeTheRunner(header + "\n" + std::string(100, '1')), header + "\n");
  EXPECT_EQ(ReadLikeTheRunner(header + std::string(100, '9')), header + std::string(11, '9'));
  const std::string too_large = header + std::to_string(kMaxRequestJsonBytes + 1) + "\n";
  EXPECT_EQ(ReadLikeTheRunner(too_large + std::string(100, 'x')), too_large);
  EXPECT_EQ(RequestBytesToRead(header + std::to_string(kMaxRequestJsonBytes) + "\n"),
            kMaxRequestJsonBytes + 1 + kRequestTrailer.size());
}

TEST(RequestTest, TheLargestRequestFitsAndOneByteMoreDoesNot) {
  Request r = Sample();
  r.args.clear();
  r.stdin_data.clear();
  const std::string framed = FormatRequest(r);
  r.code.append(kMaxRequestJsonBytes - DocOf(framed).size(), 'x');
  const std::string largest = FormatRequest(r);
  EXPECT_EQ(largest.size(), kMaxRequestFrameBytes);
  EXPECT_EQ(Parse(largest), "ok");
  EXPECT_EQ(ReadLikeTheRunner(largest + "more"), largest);
  r.code += 'x';
  EXPECT_EQ(Parse(FormatRequest(r)), "request too large");
}

TEST(RequestTest, MembersAreChecked) {
  const std::string nonce = R"("nonce":"0123456789abcdef")";
  const auto doc = [&](const std::string& members) { return Frame("{" + members + "}"); };
  EXPECT_EQ(Parse(doc(nonce + R"(,"code":"","stdin":"","args":[],"newer":{"a":[1]})")), "ok");
  EXPECT_EQ(Parse(doc(R"("code":"","stdin":"","args":[])")), "request has no member nonce");
  EXPECT_EQ(Parse(doc(nonce + R"(,"stdin":"","args":[])")), "request has no member code");
  EXPECT_EQ(Parse(doc(nonce + R"(,"code":"","args":[])")), "request has no member stdin");
  EXPECT_EQ(Parse(doc(nonce + R"(,"code":"","stdin":"")")), "request has no member args");
  EXPECT_EQ(Parse(doc(nonce + R"(,"code":1,"stdin":"","args":[])")),
            "request member code is not a string");
  EXPECT_EQ(Parse(doc(nonce + R"(,"code":"","stdin":null,"args":[])")),
            "request member stdin is not a string");
  EXPECT_EQ(Parse(doc(nonce + R"(,"code":"","stdin":"","args":"a")")),
            "request member args is not an array");
  EXPECT_EQ(Parse(doc(nonce + R"(,"code":"","stdin":"","args":["a",1])")),
            "request args[1] is not a string");
  EXPECT_EQ(Parse(doc(nonce + R"(,"code":"","stdin":"","args":["a","b\u0000c"])")),
            "request args[1] holds a NUL byte");
  EXPECT_EQ(Parse(doc(nonce + R"(,"code":"","stdin":"","args":[["a"]])")),
            "request args[0] is not a string");
  EXPECT_EQ(Parse(doc(nonce + R"(,"code":"","stdin":"","args":[],"x":[[[1]]])")),
            "request JSON is nested too deep");
  EXPECT_EQ(Parse(Frame("[]")), "request is not a JSON object");
  EXPECT_EQ(Parse(Frame("{\"nonce\":")), "request is not valid JSON");
  EXPECT_EQ(Parse(Frame("{\"code\":\"\xFF\"}")), "request is not valid JSON");

  // The nonce: 16..128 bytes.
  const auto with_nonce = [](size_t bytes) {
    Request r = Sample();
    r.nonce.assign(bytes, 'n');
    return FormatRequest(r);
  };
  EXPECT_EQ(Parse(with_nonce(kMinNonceBytes)), "ok");
  EXPECT_EQ(Parse(with_nonce(kMaxNonceBytes)), "ok");
  EXPECT_EQ(Parse(with_nonce(kMinNonceBytes - 1)), "request nonce has 15 bytes, not 16..128");
  EXPECT_EQ(Parse(with_nonce(kMaxNonceBytes + 1)), "request nonce has 129 bytes, not 16..128");
  EXPECT_EQ(Parse(with_nonce(0)), "request nonce has 0 bytes, not 16..128");
  // NUL in code and stdin is the program's business.
  Request nul = Sample();
  nul.code = std::string("a\0b", 3);
  nul.stdin_data = std::string("\0", 1);
  std::string error;
  const auto parsed = ParseRequest(FormatRequest(nul), &error);
  ASSERT_TRUE(parsed) << error;
  EXPECT_EQ(*parsed, nul);
}

TEST(RequestTest, DigestIsTheSecretPathsDigest) {
  // The controller's Secret path: args.json is Args(spec).dump() of the spec as parsed from
  // the apiserver's JSON.
  const Request r = Sample();
  const json spec = json::parse(json{{"code", r.code}, {"args", r.args}}.dump());
  const std::string args_json = spec["args"].dump();
  EXPECT_EQ(RequestDigest(r), InputDigest(r.nonce, r.code, r.stdin_data, args_json));
  EXPECT_EQ(RequestDigest(r), InputDigest(r.nonce, r.code, r.stdin_data, args_json, ""));
  for (const std::string& arg : kTrickyArgs) {
    Request one = r;
    one.args = {arg};
    EXPECT_EQ(RequestDigest(one),
              InputDigest(r.nonce, r.code, r.stdin_data, json::array({arg}).dump()))
        << json(arg).dump();
  }
  Request none = r;
  none.args.clear();
  EXPECT_EQ(RequestDigest(none), InputDigest(r.nonce, r.code, r.stdin_data, "[]"));

  // A known answer, independent of any JSON encoder (input_digest_test's vector).
  EXPECT_EQ(RequestDigest({.nonce = "nonce-1", .code = "print(1)\n", .stdin_data = "",
                           .args = {"a"}}),
            "74cb08941b73d4cc225f7fbea26f127ccfb4a463169fae23b95ceec876a3845f");
  // The digest survives the frame.
  EXPECT_EQ(RequestDigest(*ParseRequest(FormatRequest(r), nullptr)), RequestDigest(r));
}

TEST(RequestTest, DigestBindsEveryField) {
  const Request r = Sample();
  const std::string digest = RequestDigest(r);
  Request other = r;
  other.nonce[0] = 'X';
  EXPECT_NE(RequestDigest(other), digest);
  other = r;
  other.code += " ";
  EXPECT_NE(RequestDigest(other), digest);
  other = r;
  other.stdin_data += " ";
  EXPECT_NE(RequestDigest(other), digest);
  other = r;
  other.args.push_back("");
  EXPECT_NE(RequestDigest(other), digest);
  other = r;
  other.args = {"a", "b"};
  Request joined = r;
  joined.args = {"a\",\"b"};
  EXPECT_NE(RequestDigest(other), RequestDigest(joined));
}

}  // namespace
}  // namespace coderun::api
