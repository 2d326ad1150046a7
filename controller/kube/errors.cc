#include "kube/errors.h"

#include <optional>

#include "absl/strings/cord.h"
#include "absl/strings/match.h"
#include "absl/strings/str_cat.h"
#include "nlohmann/json.hpp"

namespace coderun::kube {
namespace {

// Payload: ApiErrorInfo as JSON {"code":409,"reason":"...","message":"...","causes":[...]}.
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

std::string StringAt(const nlohmann::json& object, const char* key) {
  auto it = object.find(key);
  return it != object.end() && it->is_string() ? it->get<std::string>() : std::string();
}

// The causes of a metav1.Status (details.causes); entries that are not objects are skipped.
std::vector<StatusCause> CausesOf(const nlohmann::json& status) {
  std::vector<StatusCause> causes;
  auto details = status.find("details");
  if (details == status.end() || !details->is_object()) return causes;
  auto list = details->find("causes");
  if (list == details->end() || !list->is_array()) return causes;
  for (const nlohmann::json& cause : *list) {
    if (!cause.is_object()) continue;
    causes.push_back(
        StatusCause{StringAt(cause, "reason"), StringAt(cause, "message"), StringAt(cause, "field")});
  }
  return causes;
}

}  // namespace

bool ApiErrorInfo::HasCause(std::string_view type) const {
  for (const StatusCause& cause : causes) {
    if (cause.type == type) return true;
  }
  return false;
}

absl::Status ApiError(int http_code, std::string_view body) {
  ApiErrorInfo info;
  info.http_code = http_code;
  // Never throws: parse without exceptions, then read fields defensively.
  nlohmann::json status = nlohmann::json::parse(body, nullptr, /*allow_exceptions=*/false);
  if (status.is_object()) {
    info.reason = StringAt(status, "reason");
    info.message = StringAt(status, "message").substr(0, 4096);
    info.causes = CausesOf(status);
    if (auto details = status.find("details"); details != status.end() && details->is_object()) {
      info.details_kind = StringAt(*details, "kind");
      info.details_name = StringAt(*details, "name");
    }
  }
  std::string text = info.message.empty()
                         ? (body.empty() ? "empty response body" : OneLine(body, 256))
                         : OneLine(info.message, 4096);
  absl::StrAppend(&text, " (HTTP ", http_code);
  if (!info.reason.empty()) absl::StrAppend(&text, ", reason ", info.reason);
  text += ")";
  absl::Status result(CodeFor(http_code, info.reason), text);
  nlohmann::json causes = nlohmann::json::array();
  for (const StatusCause& c : info.causes) {
    causes.push_back({{"reason", c.type}, {"message", c.message}, {"field", c.field}});
  }
  const nlohmann::json payload = {{"code", http_code},
                                  {"reason", info.reason},
                                  {"message", info.message},
                                  {"kind", info.details_kind},
                                  {"name", info.details_name},
                                  {"causes", std::move(causes)}};
  // replace: a message cut inside a UTF-8 sequence must not make dump() throw.
  result.SetPayload(kPayloadUrl,
                    absl::Cord(payload.dump(-1, ' ', false, nlohmann::json::error_handler_t::replace)));
  return result;
}

std::optional<ApiErrorInfo> ApiErrorOf(const absl::Status& status) {
  absl::optional<absl::Cord> payload = status.GetPayload(kPayloadUrl);
  if (!payload.has_value()) return std::nullopt;
  nlohmann::json parsed =
      nlohmann::json::parse(std::string(*payload), nullptr, /*allow_exceptions=*/false);
  if (!parsed.is_object()) return std::nullopt;
  auto code = parsed.find("code");
  if (code == parsed.end() || !code->is_number_integer()) return std::nullopt;
  ApiErrorInfo info;
  info.http_code = code->get<int>();
  info.reason = StringAt(parsed, "reason");
  info.message = StringAt(parsed, "message");
  info.details_kind = StringAt(parsed, "kind");
  info.details_name = StringAt(parsed, "name");
  auto causes = parsed.find("causes");
  if (causes != parsed.end() && causes->is_array()) {
    for (const nlohmann::json& c : *causes) {
      info.causes.push_back(
          StatusCause{StringAt(c, "reason"), StringAt(c, "message"), StringAt(c, "field")});
    }
  }
  return info;
}

int HttpCode(const absl::Status& status) {
  std::optional<ApiErrorInfo> info = ApiErrorOf(status);
  return info.has_value() ? info->http_code : 0;
}

std::string Reason(const absl::Status& status) {
  std::optional<ApiErrorInfo> info = ApiErrorOf(status);
  return info.has_value() ? info->reason : "";
}

bool IsNotFound(const absl::Status& status) { return HttpCode(status) == 404; }

bool IsAlreadyExists(const absl::Status& status) {
  std::optional<ApiErrorInfo> info = ApiErrorOf(status);
  return info.has_value() && info->http_code == 409 && info->reason == "AlreadyExists";
}

bool IsConflict(const absl::Status& status) {
  std::optional<ApiErrorInfo> info = ApiErrorOf(status);
  return info.has_value() && info->http_code == 409 && info->reason != "AlreadyExists";
}

bool IsGone(const absl::Status& status) {
  std::optional<ApiErrorInfo> info = ApiErrorOf(status);
  if (!info.has_value()) return false;
  return info->http_code == 410 || info->reason == "Expired" || info->reason == "Gone";
}

bool IsForbidden(const absl::Status& status) { return HttpCode(status) == 403; }

bool IsInvalid(const absl::Status& status) { return HttpCode(status) == 422; }

bool IsNamespaceTerminating(const absl::Status& status) {
  std::optional<ApiErrorInfo> info = ApiErrorOf(status);
  return info.has_value() && info->http_code == 403 &&
         info->HasCause(kNamespaceTerminatingCause);
}

bool IsQuotaExceeded(const absl::Status& status) {
  // Message fallback: see errors.h (the quota plugin sends no cause).
  std::optional<ApiErrorInfo> info = ApiErrorOf(status);
  return info.has_value() && info->http_code == 403 &&
         absl::StrContains(info->message, "exceeded quota");
}

bool IsTooLarge(const absl::Status& status) {
  std::optional<ApiErrorInfo> info = ApiErrorOf(status);
  if (!info.has_value()) return false;
  if (info->http_code == 413) return true;
  if (info->http_code != 500) return false;
  // Message fallback: see errors.h (etcd's refusal has no reason of its own).
  constexpr char kEtcdTooLarge[] = "request is too large";
  // status.message() also holds the body when it was not a Status object (a plain-text 500).
  if (absl::StrContains(status.message(), kEtcdTooLarge)) return true;
  for (const StatusCause& cause : info->causes) {
    if (absl::StrContains(cause.message, kEtcdTooLarge)) return true;
  }
  return false;
}

bool IsTransient(const absl::Status& status) {
  if (status.ok()) return false;
  std::optional<ApiErrorInfo> info = ApiErrorOf(status);
  if (!info.has_value()) {
    return status.code() == absl::StatusCode::kUnavailable ||
           status.code() == absl::StatusCode::kDeadlineExceeded;
  }
  const int code = info->http_code;
  if (code == 429 || (code >= 500 && code < 600 && code != 501)) return true;
  return info->reason == "ServerTimeout" || info->reason == "Timeout" ||
         info->reason == "TooManyRequests";
}

}  // namespace coderun::kube
