// Kubernetes API errors as values: an absl::Status carrying the HTTP code and the
// `reason` of the apiserver's Status object ("NotFound", "AlreadyExists", "Conflict",
// "Gone", "Expired", "Forbidden", "Invalid", ...).
#pragma once

#include <string>
#include <string_view>

#include "absl/status/status.h"

namespace coderun::kube {

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
// 403 from a ResourceQuota ("exceeded quota"): a run waits for room, it has not failed.
bool IsQuotaExceeded(const absl::Status& status);
// The object would exceed what the apiserver or etcd stores: 413 RequestEntityTooLarge, or
// etcd's "request is too large" passed through as an internal error (500), which has no
// reason of its own to read instead of the message.
bool IsTooLarge(const absl::Status& status);
// True for errors worth retrying: no response, 429, 5xx, timeouts.
bool IsTransient(const absl::Status& status);

}  // namespace coderun::kube
