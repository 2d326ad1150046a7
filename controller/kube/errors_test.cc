#include "kube/errors.h"

#include <optional>

#include "gtest/gtest.h"

namespace coderun::kube {
namespace {

// Bodies as kube-apiserver sends them.
constexpr char kNotFound[] =
    R"j({"kind":"Status","apiVersion":"v1","metadata":{},"status":"Failure",)j"
    R"j("message":"pods \"x\" not found","reason":"NotFound",)j"
    R"j("details":{"name":"x","kind":"pods"},"code":404})j";
constexpr char kAlreadyExists[] =
    R"j({"kind":"Status","apiVersion":"v1","metadata":{},"status":"Failure",)j"
    R"j("message":"configmaps \"a\" already exists","reason":"AlreadyExists",)j"
    R"j("details":{"name":"a","kind":"configmaps"},"code":409})j";
constexpr char kConflict[] =
    R"j({"kind":"Status","apiVersion":"v1","metadata":{},"status":"Failure",)j"
    R"j("message":"Operation cannot be fulfilled on coderuns.coderun.dev \"a\": the object has )j"
    R"j(been modified; please apply your changes to the latest version and try again",)j"
    R"j("reason":"Conflict","details":{"name":"a","group":"coderun.dev","kind":"coderuns"},)j"
    R"j("code":409})j";
constexpr char kExpired[] =
    R"j({"kind":"Status","apiVersion":"v1","metadata":{},"status":"Failure",)j"
    R"j("message":"too old resource version: 1 (2345)","reason":"Expired","code":410})j";
constexpr char kQuota[] =
    R"j({"kind":"Status","apiVersion":"v1","metadata":{},"status":"Failure",)j"
    R"j("message":"pods \"p\" is forbidden: exceeded quota: q, requested: pods=1, used: )j"
    R"j(pods=2, limited: pods=2","reason":"Forbidden","details":{"name":"p","kind":"pods"},)j"
    R"j("code":403})j";
constexpr char kRbac[] =
    R"j({"kind":"Status","apiVersion":"v1","metadata":{},"status":"Failure",)j"
    R"j("message":"pods is forbidden: User \"u\" cannot list resource \"pods\"",)j"
    R"j("reason":"Forbidden","details":{"kind":"pods"},"code":403})j";
constexpr char kInvalid[] =
    R"j({"kind":"Status","apiVersion":"v1","metadata":{},"status":"Failure",)j"
    R"j("message":"CodeRun.coderun.dev \"a\" is invalid: spec: Invalid value: \"object\": )j"
    R"j(spec is immutable","reason":"Invalid","code":422})j";

// NamespaceLifecycle admission (apiserver/pkg/admission/plugin/namespace/lifecycle).
constexpr char kNamespaceTerminating[] =
    R"j({"kind":"Status","apiVersion":"v1","metadata":{},"status":"Failure",)j"
    R"j("message":"networkpolicies \"coderun-deny-all\" is forbidden: unable to create new )j"
    R"j(content in namespace n because it is being terminated","reason":"Forbidden",)j"
    R"j("details":{"name":"coderun-deny-all","group":"networking.k8s.io",)j"
    R"j("kind":"networkpolicies","causes":[{"reason":"NamespaceTerminating",)j"
    R"j("message":"namespace n is being terminated","field":"metadata.namespace"}]},)j"
    R"j("code":403})j";
// etcd's refusal, passed through by the apiserver as an unclassified internal error.
constexpr char kEtcdTooLarge[] =
    R"j({"kind":"Status","apiVersion":"v1","metadata":{},"status":"Failure",)j"
    R"j("message":"etcdserver: request is too large","code":500})j";
constexpr char kInternalTooLarge[] =
    R"j({"kind":"Status","apiVersion":"v1","metadata":{},"status":"Failure",)j"
    R"j("message":"Internal error occurred: etcdserver: request is too large",)j"
    R"j("reason":"InternalError","details":{"causes":[{"message":)j"
    R"j("etcdserver: request is too large"}]},"code":500})j";

TEST(ApiErrorTest, CarriesCodeReasonMessageAndCauses) {
  absl::Status s = ApiError(403, kNamespaceTerminating);
  std::optional<ApiErrorInfo> info = ApiErrorOf(s);
  ASSERT_TRUE(info.has_value());
  EXPECT_EQ(info->http_code, 403);
  EXPECT_EQ(info->reason, "Forbidden");
  EXPECT_EQ(info->message,
            "networkpolicies \"coderun-deny-all\" is forbidden: unable to create new content in "
            "namespace n because it is being terminated");
  ASSERT_EQ(info->causes.size(), 1u);
  EXPECT_EQ(info->causes[0], (StatusCause{"NamespaceTerminating",
                                          "namespace n is being terminated",
                                          "metadata.namespace"}));
  EXPECT_TRUE(info->HasCause(kNamespaceTerminatingCause));
  EXPECT_FALSE(info->HasCause("FieldValueInvalid"));
  // A copy of the status keeps the payload.
  absl::Status copy = s;
  EXPECT_EQ(ApiErrorOf(copy)->causes.size(), 1u);
}

TEST(ApiErrorTest, ApiErrorOfIsEmptyForOtherErrors) {
  EXPECT_FALSE(ApiErrorOf(absl::OkStatus()).has_value());
  EXPECT_FALSE(ApiErrorOf(absl::NotFoundError("no such file")).has_value());
  std::optional<ApiErrorInfo> bare = ApiErrorOf(ApiError(502, "<html>bad gateway</html>"));
  ASSERT_TRUE(bare.has_value());
  EXPECT_EQ(bare->http_code, 502);
  EXPECT_EQ(bare->reason, "");
  EXPECT_EQ(bare->message, "");
  EXPECT_TRUE(bare->causes.empty());
}

TEST(ApiErrorTest, NamespaceTerminatingIsReadFromTheCauseNotTheMessage) {
  EXPECT_TRUE(IsNamespaceTerminating(ApiError(403, kNamespaceTerminating)));
  // The same words without the cause: not a terminating namespace.
  EXPECT_FALSE(IsNamespaceTerminating(ApiError(
      403, R"j({"reason":"Forbidden","message":"namespace n is being terminated","code":403})j")));
  EXPECT_FALSE(IsNamespaceTerminating(ApiError(403, kRbac)));
  EXPECT_FALSE(IsNamespaceTerminating(ApiError(403, kQuota)));
}

TEST(ApiErrorTest, TooLargeIs413OrEtcdsRefusalAsAn500) {
  EXPECT_TRUE(IsTooLarge(ApiError(413, R"j({"reason":"RequestEntityTooLarge","code":413})j")));
  EXPECT_TRUE(IsTooLarge(ApiError(500, kEtcdTooLarge)));
  EXPECT_TRUE(IsTooLarge(ApiError(500, kInternalTooLarge)));
  EXPECT_TRUE(IsTooLarge(ApiError(500, "etcdserver: request is too large")));
  EXPECT_FALSE(IsTooLarge(ApiError(500, R"j({"reason":"InternalError","message":"boom"})j")));
  // The words in a non-500 error say nothing.
  EXPECT_FALSE(IsTooLarge(ApiError(422, kEtcdTooLarge)));
  EXPECT_FALSE(IsTooLarge(absl::InternalError("etcdserver: request is too large")));
}

TEST(ApiErrorTest, NotFoundCarriesCodeReasonAndMessage) {
  absl::Status s = ApiError(404, kNotFound);
  EXPECT_EQ(s.code(), absl::StatusCode::kNotFound);
  EXPECT_EQ(HttpCode(s), 404);
  EXPECT_EQ(Reason(s), "NotFound");
  EXPECT_NE(s.message().find("pods \"x\" not found"), absl::string_view::npos);
  EXPECT_TRUE(kube::IsNotFound(s));
  EXPECT_FALSE(kube::IsAlreadyExists(s));
  EXPECT_FALSE(IsTransient(s));
}

TEST(ApiErrorTest, DetailsSayWhatWasNotFound) {
  // A create in a namespace that does not exist names the namespace in details; a resource
  // the server does not serve at all (a CRD not installed) has no details.
  std::optional<ApiErrorInfo> ns = ApiErrorOf(ApiError(404, R"j({"kind":"Status","status":"Failure",
      "message":"namespaces \"team-a\" not found","reason":"NotFound",
      "details":{"name":"team-a","kind":"namespaces"},"code":404})j"));
  ASSERT_TRUE(ns.has_value());
  EXPECT_EQ(ns->details_kind, "namespaces");
  EXPECT_EQ(ns->details_name, "team-a");
  std::optional<ApiErrorInfo> unserved = ApiErrorOf(ApiError(404, R"j({"kind":"Status",
      "message":"the server could not find the requested resource","reason":"NotFound",
      "details":{},"code":404})j"));
  ASSERT_TRUE(unserved.has_value());
  EXPECT_EQ(unserved->details_kind, "");
  EXPECT_EQ(unserved->details_name, "");
}

TEST(ApiErrorTest, AlreadyExistsAndConflictAreDistinct409s) {
  absl::Status exists = ApiError(409, kAlreadyExists);
  EXPECT_EQ(exists.code(), absl::StatusCode::kAlreadyExists);
  EXPECT_TRUE(kube::IsAlreadyExists(exists));
  EXPECT_FALSE(IsConflict(exists));

  absl::Status conflict = ApiError(409, kConflict);
  EXPECT_EQ(conflict.code(), absl::StatusCode::kAborted);
  EXPECT_TRUE(IsConflict(conflict));
  EXPECT_FALSE(kube::IsAlreadyExists(conflict));
}

TEST(ApiErrorTest, ExpiredAndGoneMeanRelist) {
  absl::Status expired = ApiError(410, kExpired);
  EXPECT_EQ(expired.code(), absl::StatusCode::kFailedPrecondition);
  EXPECT_TRUE(IsGone(expired));
  EXPECT_EQ(Reason(expired), "Expired");
  EXPECT_TRUE(IsGone(ApiError(410, "")));
  // An "Expired" reason is Gone whatever the code it came with.
  EXPECT_TRUE(IsGone(ApiError(500, R"j({"reason":"Expired","message":"m"})j")));
  EXPECT_FALSE(IsGone(ApiError(404, kNotFound)));
}

TEST(ApiErrorTest, QuotaIsAForbiddenWithExceededQuota) {
  absl::Status quota = ApiError(403, kQuota);
  EXPECT_EQ(quota.code(), absl::StatusCode::kPermissionDenied);
  EXPECT_TRUE(IsForbidden(quota));
  EXPECT_TRUE(IsQuotaExceeded(quota));

  absl::Status rbac = ApiError(403, kRbac);
  EXPECT_TRUE(IsForbidden(rbac));
  EXPECT_FALSE(IsQuotaExceeded(rbac));
  EXPECT_FALSE(IsQuotaExceeded(ApiError(403, kNamespaceTerminating)));
  // Only a 403 is a quota refusal, whatever another error's message says.
  EXPECT_FALSE(IsQuotaExceeded(ApiError(422, kQuota)));
}

TEST(ApiErrorTest, InvalidIs422) {
  absl::Status s = ApiError(422, kInvalid);
  EXPECT_EQ(s.code(), absl::StatusCode::kInvalidArgument);
  EXPECT_TRUE(IsInvalid(s));
  EXPECT_EQ(Reason(s), "Invalid");
}

TEST(ApiErrorTest, ThrottlingAndServerErrorsAreTransient) {
  absl::Status throttled = ApiError(429, R"j({"reason":"TooManyRequests","code":429})j");
  EXPECT_EQ(throttled.code(), absl::StatusCode::kUnavailable);
  EXPECT_TRUE(IsTransient(throttled));
  EXPECT_TRUE(IsTransient(ApiError(500, R"j({"reason":"InternalError"})j")));
  EXPECT_TRUE(IsTransient(ApiError(503, "service unavailable")));
  EXPECT_EQ(ApiError(503, "").code(), absl::StatusCode::kUnavailable);
  EXPECT_TRUE(IsTransient(ApiError(504, R"j({"reason":"Timeout"})j")));
  // Errors that did not come from a response: transient when Unavailable/DeadlineExceeded.
  EXPECT_TRUE(IsTransient(absl::UnavailableError("connection refused")));
  EXPECT_TRUE(IsTransient(absl::DeadlineExceededError("timed out")));
  EXPECT_FALSE(IsTransient(absl::InvalidArgumentError("bad")));
  EXPECT_FALSE(IsTransient(absl::OkStatus()));
  EXPECT_FALSE(IsTransient(ApiError(400, "")));
}

TEST(ApiErrorTest, ToleratesBodiesThatAreNotStatusJson) {
  absl::Status html = ApiError(502, "<html>\n<body>Bad Gateway</body>\n</html>");
  EXPECT_EQ(html.code(), absl::StatusCode::kUnavailable);
  EXPECT_EQ(HttpCode(html), 502);
  EXPECT_EQ(Reason(html), "");
  EXPECT_EQ(html.message().find('\n'), absl::string_view::npos) << html;

  for (const char* body : {"", "null", "[1,2]", "{\"reason\":7}", "{", "\xff\xfe"}) {
    absl::Status s = ApiError(404, body);
    EXPECT_TRUE(kube::IsNotFound(s)) << body;
    EXPECT_EQ(Reason(s), "") << body;
  }
}

TEST(ApiErrorTest, ErrorsNotFromTheApiHaveNoCodeOrReason) {
  absl::Status s = absl::NotFoundError("no such file");
  EXPECT_EQ(HttpCode(s), 0);
  EXPECT_EQ(Reason(s), "");
  EXPECT_FALSE(kube::IsNotFound(s));
  EXPECT_FALSE(IsGone(absl::OkStatus()));
}

}  // namespace
}  // namespace coderun::kube
