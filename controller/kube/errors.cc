#include "kube/errors.h"

#include <cstdlib>
#include <optional>

#include "absl/strings/cord.h"
#include "absl/strings/match.h"
#include "absl/strings/numbers.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_split.h"
#include "nlohmann/json.hpp"

namespace coderun::kube {
namespace {

// Payload: "<http code> <reason>", e.g. "409 AlreadyExists".
constexpr char kPayloadUrl[] = "kube-api-error";

absl::StatusCode CodeFor(int http_code, std::string_view reason) {
  switch (http_code) {
    case 400:
      return absl::StatusCode::kInvalidArgument;
    case 401:
      return absl::StatusCode::kUnauthenticated;
    case 403:
      return absl::StatusCode::kPermissionDenied;
    case 404:
      return absl::StatusCode::kNotFound;
    case 405:
      return absl::StatusCode::kUnimplemented;
    case 409:
      return reason == "AlreadyExists" ? absl::StatusCode::kAlreadyExists
                                       : absl::StatusCode::kAborted;
    case 410:
      return absl::StatusCode::kFailedPrecondition;
    case 413:
    case 415:
    case 422:
      return absl::StatusCode::kInvalidArgument;
    case 429:
      return absl::StatusCode::kUnavailable;
    case 504:
      return absl::StatusCode::kDeadlineExceeded;
    default:
      break;
  }
  if (http_code >= 500 && http_code < 600) return absl::StatusCode::kUnavailable;
  if (http_code >= 400 && http_code < 500) return absl::StatusCode::kFailedPrecondition;
  return absl::StatusCode::kUnknown;
}

// Replaces line breaks so that an error stays one log line.
std::string OneLine(std::string_view text, size_t max_len) {
  std::string out;
  for (char c : text.substr(0, max_len)) out.push_back(c == '\n' || c == '\r' ? ' ' : c);
  if (text.size() > max_len) out += "...";
  return out;
}

struct Parsed {
  int code = 0;
  std::string reason;
};

std::optional<Parsed> ParsePayload(const absl::Status& status) {
  absl::optional<absl::Cord> payload = status.GetPayload(kPayloadUrl);
  if (!payload.has_value()) return std::nullopt;
  std::string text(*payload);
  std::pair<std::string, std::string> parts = absl::StrSplit(text, absl::MaxSplits(' ', 1));
  Parsed parsed;
  if (!absl::SimpleAtoi(parts.first, &parsed.code)) return std::nullopt;
  parsed.reason = parts.second;
  return parsed;
}

}  // namespace

absl::Status ApiError(int http_code, std::string_view body) {
  std::string reason;
  std::string message;
  // Never throws: parse without exceptions, then read fields defensively.
  nlohmann::json status = nlohmann::json::parse(body, nullptr, /*allow_exceptions=*/false);
  if (status.is_object()) {
    auto r = status.find("reason");
    if (r != status.end() && r->is_string()) reason = r->get<std::string>();
    auto m = status.find("message");
    if (m != status.end() && m->is_string()) message = m->get<std::string>();
  }
  if (message.empty()) {
    message = body.empty() ? "empty response body" : OneLine(body, 256);
  } else {
    message = OneLine(message, 4096);
  }
  std::string text = absl::StrCat(message, " (HTTP ", http_code);
  if (!reason.empty()) absl::StrAppend(&text, ", reason ", reason);
  text += ")";
  absl::Status result(CodeFor(http_code, reason), text);
  result.SetPayload(kPayloadUrl, absl::Cord(absl::StrCat(http_code, " ", reason)));
  return result;
}

int HttpCode(const absl::Status& status) {
  std::optional<Parsed> p = ParsePayload(status);
  return p.has_value() ? p->code : 0;
}

std::string Reason(const absl::Status& status) {
  std::optional<Parsed> p = ParsePayload(status);
  return p.has_value() ? p->reason : "";
}

bool IsNotFound(const absl::Status& status) { return HttpCode(status) == 404; }

bool IsAlreadyExists(const absl::Status& status) {
  return HttpCode(status) == 409 && Reason(status) == "AlreadyExists";
}

bool IsConflict(const absl::Status& status) {
  return HttpCode(status) == 409 && Reason(status) != "AlreadyExists";
}

bool IsGone(const absl::Status& status) {
  std::optional<Parsed> p = ParsePayload(status);
  if (!p.has_value()) return false;
  return p->code == 410 || p->reason == "Expired" || p->reason == "Gone";
}

bool IsForbidden(const absl::Status& status) { return HttpCode(status) == 403; }

bool IsInvalid(const absl::Status& status) { return HttpCode(status) == 422; }

bool IsQuotaExceeded(const absl::Status& status) {
  return HttpCode(status) == 403 && absl::StrContains(status.message(), "exceeded quota");
}

bool IsTooLarge(const absl::Status& status) {
  const int code = HttpCode(status);
  return code == 413 ||
         (code == 500 && absl::StrContains(status.message(), "request is too large"));
}

bool IsTransient(const absl::Status& status) {
  if (status.ok()) return false;
  std::optional<Parsed> p = ParsePayload(status);
  if (!p.has_value()) {
    return status.code() == absl::StatusCode::kUnavailable ||
           status.code() == absl::StatusCode::kDeadlineExceeded;
  }
  if (p->code == 429 || (p->code >= 500 && p->code < 600 && p->code != 501)) return true;
  return p->reason == "ServerTimeout" || p->reason == "Timeout" ||
         p->reason == "TooManyRequests";
}

}  // namespace coderun::kube
