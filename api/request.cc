#include "api/request.h"

#include <nlohmann/json.hpp>

#include "api/frame.h"
#include "api/input_digest.h"

namespace coderun::api {
namespace {

using nlohmann::json;

constexpr frame::Format kRequestFormat = {kRequestHeader, kRequestTrailer, kMaxRequestJsonBytes,
                                          ""};

bool Fail(std::string* error, std::string message) {
  if (error != nullptr) *error = std::move(message);
  return false;
}

// nlohmann's compact dump, as the controller writes its JSON; ill-formed UTF-8 becomes
// U+FFFD instead of an exception (valid text is written the same either way).
std::string Dump(const nlohmann::ordered_json& doc) {
  return doc.dump(-1, ' ', false, json::error_handler_t::replace);
}

bool GetString(const json& doc, const char* key, std::string* out, std::string* error) {
  const auto it = doc.find(key);
  if (it == doc.end()) return Fail(error, std::string("request has no member ") + key);
  if (!it->is_string()) {
    return Fail(error, std::string("request member ") + key + " is not a string");
  }
  *out = it->get<std::string>();
  return true;
}

bool FillRequest(const json& doc, Request* request, std::string* error) {
  if (!doc.is_object()) return Fail(error, "request is not a JSON object");
  if (!GetString(doc, "nonce", &request->nonce, error) ||
      !GetString(doc, "code", &request->code, error) ||
      !GetString(doc, "stdin", &request->stdin_data, error)) {
    return false;
  }
  if (request->nonce.size() < kMinNonceBytes || request->nonce.size() > kMaxNonceBytes) {
    return Fail(error, "request nonce has " + std::to_string(request->nonce.size()) +
                           " bytes, not " + std::to_string(kMinNonceBytes) + ".." +
                           std::to_string(kMaxNonceBytes));
  }
  const auto args = doc.find("args");
  if (args == doc.end()) return Fail(error, "request has no member args");
  if (!args->is_array()) return Fail(error, "request member args is not an array");
  for (const json& arg : *args) {
    const std::string where = "request args[" + std::to_string(request->args.size()) + "]";
    if (!arg.is_string()) return Fail(error, where + " is not a string");
    const std::string& text = arg.get_ref<const std::string&>();
    if (text.find('\0') != std::string::npos) return Fail(error, where + " holds a NUL byte");
    request->args.push_back(text);
  }
  return true;
}

}  // namespace

std::string FormatRequest(const Request& request) {
  const nlohmann::ordered_json doc = {{"nonce", request.nonce},
                                      {"code", request.code},
                                      {"stdin", request.stdin_data},
                                      {"args", request.args}};
  return frame::Make(kRequestHeader, Dump(doc), kRequestTrailer);
}

std::optional<Request> ParseRequest(std::string_view data, std::string* error) {
  if (data.empty()) return Fail(error, "empty: no request"), std::nullopt;
  const std::optional<frame::Frame> framed = frame::Read(data, kRequestFormat, "request", error);
  if (!framed) return std::nullopt;
  if (framed->size < data.size()) {
    return Fail(error, std::to_string(data.size() - framed->size) +
                           " bytes after the request frame"),
           std::nullopt;
  }
  // 2 for the object and args; 3 leaves room for a member a newer controller may add.
  const std::optional<json> doc = frame::ParseJson(framed->body, 3, "request", error);
  if (!doc) return std::nullopt;
  Request request;
  if (!FillRequest(*doc, &request, error)) return std::nullopt;
  return request;
}

size_t RequestBytesToRead(std::string_view prefix) {
  return frame::BytesToRead(prefix, kRequestFormat);
}

std::string RequestDigest(const Request& request) {
  return InputDigest(request.nonce, request.code, request.stdin_data,
                     Dump(nlohmann::ordered_json(request.args)), "");
}

}  // namespace coderun::api
