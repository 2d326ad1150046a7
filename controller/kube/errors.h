// Kubernetes API errors as values: an absl::Status carrying, as a payload, what the
// apiserver's metav1.Status said: the HTTP code, the `reason` ("NotFound", "AlreadyExists",
// "Conflict", "Gone", "Expired", "Forbidden", "Invalid", ...), the message and
// `details.causes`. Decisions read the code, reason and causes (ApiErrorOf and the Is*
// predicates below), never the text of status.message().
#pragma once

#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "absl/status/status.h"

namespace coderun::kube {

// One entry of a metav1.Status's details.causes.
struct StatusCause {
  std::string type;     // JSON "reason": "NamespaceTerminating", "FieldValueInvalid", ...
  std::string message;  // for people
  std::string field;    // e.g. "metadata.namespace", "spec.limits.cpu"
  bool operator==(const StatusCause&) const = default;
};

// What an API error carries.
struct ApiErrorInfo {
  int http_code = 0;
  std::string reason;   // "" when the body had none (e.g. not a Status object)
  std::string message;  // the apiserver's message (cut to 4 KiB), "" when it had none
  std::vector<StatusCause> causes;
  // details.kind and details.name: what the error is about ("namespaces" and "team-a" when
  // a create names a namespace that does not exist; both empty when the URL's resource is
  // not served at all, e.g. a CRD that is not installed).
  std::string details_kind;
  std::string details_name;

  // True when some cause has this type.
  bool HasCause(std::string_view type) const;
};

// The cause type the NamespaceLifecycle admission plugin attaches to a create refused
// (403 Forbidden) because the namespace is being deleted (core/v1 NamespaceTerminatingCause).
inline constexpr char kNamespaceTerminatingCause[] = "NamespaceTerminating";

// The payload of an error made by ApiError; nullopt for any other status (OK included).
std::optional<ApiErrorInfo> ApiErrorOf(const absl::Status& status);

// Status codes: 400/413/415/422 InvalidArgument, 401 Unauthenticated, 403 PermissionDenied,
// 404 NotFound, 409 AlreadyExists (reason AlreadyExists) or Aborted (Conflict), 410
// FailedPrecondition, 429 and 5xx Unavailable (504 DeadlineExceeded). The message is the
// apiserver's message plus "(HTTP <code>, reason <reason>)", on one line.
//
// Note: absl also declares IsNotFound and IsAlreadyExists; from inside namespace
// coderun::kube an unqualified call with an absl::Status argument is ambiguous (ADL), so
// call them as kube::IsNotFound(s). Qualified calls from other namespaces are fine.

// Builds the error for an HTTP response with a non-2xx status; `body` is the apiserver's
// Status JSON when present (anything else is tolerated).
absl::Status ApiError(int http_code, std::string_view body);

// HTTP code of an API error; 0 for errors that did not come from an HTTP response.
int HttpCode(const absl::Status& status);
// Kubernetes reason of an API error ("" if none).
std::string Reason(const absl::Status& status);

bool IsNotFound(const absl::Status& status);       // 404
bool IsAlreadyExists(const absl::Status& status);  // 409 reason AlreadyExists
bool IsConflict(const absl::Status& status);       // 409 reason Conflict (stale resourceVersion)
bool IsGone(const absl::Status& status);           // 410 (Gone or Expired): relist
bool IsForbidden(const absl::Status& status);      // 403
bool IsInvalid(const absl::Status& status);        // 422
// 403 Forbidden carrying the cause NamespaceTerminating: a create in a namespace that is
// being deleted.
bool IsNamespaceTerminating(const absl::Status& status);
// 403 Forbidden from the ResourceQuota admission plugin: a run waits for room, it has not
// failed. The plugin gives no structured signal (reason Forbidden, like RBAC, and no cause;
// apiserver/pkg/admission/plugin/resourcequota), so this one reads the apiserver's message:
// it contains "exceeded quota: <quota name>, requested: ...".
bool IsQuotaExceeded(const absl::Status& status);
// The object would exceed what the apiserver or etcd stores: 413 RequestEntityTooLarge, or
// etcd's "etcdserver: request is too large" passed through as a 500 whose reason is empty
// or InternalError (the apiserver does not classify it), so this one falls back to the
// message (or a cause's message) for the 500 case.
bool IsTooLarge(const absl::Status& status);
// True for errors worth retrying: no response, 429, 5xx, timeouts.
bool IsTransient(const absl::Status& status);

}  // namespace coderun::kube
