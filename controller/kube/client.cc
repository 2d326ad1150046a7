#include <utility>

#include "absl/strings/ascii.h"
#include "absl/strings/str_cat.h"
#include "common/status_macros.h"
#include "kube/attach.h"
#include "kube/errors.h"
#include "kube/http_client.h"

namespace coderun::kube {
namespace {

constexpr char kJson[] = "application/json";
constexpr char kMergePatch[] = "application/merge-patch+json";

// Builds "?a=b&c=d" with escaped values.
class Query {
 public:
  void Add(const std::string& key, std::string_view value) {
    absl::StrAppend(&text_, text_.empty() ? "?" : "&", key, "=", UrlEscape(value));
  }
  void AddIfSet(const std::string& key, std::string_view value) {
    if (!value.empty()) Add(key, value);
  }
  const std::string& str() const { return text_; }

 private:
  std::string text_;
};

bool Is2xx(int status) { return status >= 200 && status < 300; }

bool IsBlank(std::string_view line) {
  for (char c : line) {
    if (!absl::ascii_isspace(static_cast<unsigned char>(c))) return false;
  }
  return true;
}

class HttpClient final : public Client {
 public:
  HttpClient(std::shared_ptr<Transport> transport, std::shared_ptr<RateLimiter> limiter,
             RequestObserver on_request, std::string field_manager, std::string user_agent)
      : transport_(std::move(transport)),
        limiter_(std::move(limiter)),
        on_request_(std::move(on_request)),
        write_query_(field_manager.empty() ? "" : "?fieldManager=" + UrlEscape(field_manager)),
        user_agent_(user_agent.empty() ? kUserAgent : std::move(user_agent)) {}

  absl::StatusOr<json> Get(const Context& ctx, const Resource& r, const std::string& ns, const std::string& name,
                           const DropKeys& drop) override {
    if (name.empty()) return absl::InvalidArgumentError("Get: empty name");
    return Call(ctx, "get", "GET", r.Path(ns, name), "", "", drop);
  }

  absl::StatusOr<json> List(const Context& ctx, const Resource& r, const std::string& ns, const ListOptions& opts,
                            const DropKeys& drop) override {
    Query q;
    q.AddIfSet("labelSelector", opts.label_selector);
    q.AddIfSet("fieldSelector", opts.field_selector);
    if (opts.limit > 0) q.Add("limit", std::to_string(opts.limit));
    q.AddIfSet("continue", opts.continue_token);
    q.AddIfSet("resourceVersion", opts.resource_version);
    return Call(ctx, "list", "GET", r.Path(ns) + q.str(), "", "", drop, /*list=*/true);
  }

  absl::StatusOr<json> Create(const Context& ctx, const Resource& r, const std::string& ns,
                              const json& object) override {
    ASSIGN_OR_RETURN(std::string body, Dump(object));
    return Call(ctx, "create", "POST", r.Path(ns) + write_query_, body, kJson, WrittenDropKeys());
  }

  absl::StatusOr<json> Update(const Context& ctx, const Resource& r, const std::string& ns,
                              const json& object) override {
    return Put(ctx, r, ns, object);
  }

  absl::StatusOr<json> MergePatch(const Context& ctx, const Resource& r, const std::string& ns,
                                  const std::string& name, const json& patch,
                                  const std::string& subresource) override {
    if (name.empty()) return absl::InvalidArgumentError("MergePatch: empty name");
    ASSIGN_OR_RETURN(std::string body, Dump(patch));
    std::string path = r.Path(ns, name);
    if (!subresource.empty()) absl::StrAppend(&path, "/", UrlEscape(subresource));
    return Call(ctx, "patch", "PATCH", path + write_query_, body, kMergePatch, WrittenDropKeys());
  }

  absl::Status Delete(const Context& ctx, const Resource& r, const std::string& ns, const std::string& name,
                      const DeleteOptions& opts) override {
    if (name.empty()) return absl::InvalidArgumentError("Delete: empty name");
    json options = {{"kind", "DeleteOptions"}, {"apiVersion", "v1"}};
    if (opts.precondition_uid.has_value()) {
      options["preconditions"] = {{"uid", *opts.precondition_uid}};
    }
    if (!opts.propagation_policy.empty()) options["propagationPolicy"] = opts.propagation_policy;
    ASSIGN_OR_RETURN(HttpResponse response,
                     Send(ctx, "delete", NewRequest("DELETE", r.Path(ns, name), options.dump(), kJson)));
    if (!Is2xx(response.status)) return ApiError(response.status, response.body);
    return absl::OkStatus();
  }

  absl::Status Watch(const Context& ctx, const Resource& r, const std::string& ns, const WatchOptions& opts,
                     const std::function<bool(WatchEvent&&)>& on_event,
                     const DropKeys& drop) override {
    Query q;
    q.Add("watch", "1");
    q.AddIfSet("labelSelector", opts.label_selector);
    q.AddIfSet("fieldSelector", opts.field_selector);
    q.AddIfSet("resourceVersion", opts.resource_version);
    if (opts.timeout_seconds > 0) q.Add("timeoutSeconds", std::to_string(opts.timeout_seconds));
    if (opts.allow_bookmarks) q.Add("allowWatchBookmarks", "true");
    HttpRequest request = NewRequest("GET", r.Path(ns) + q.str(), "", "");
    // The server ends the watch after timeout_seconds; a silent stream is a broken one only
    // after that (bookmarks keep a healthy stream talking).
    const Context bounded = ctx.WithTimeout(
        std::chrono::seconds(opts.timeout_seconds > 0 ? opts.timeout_seconds : 600) +
        kWatchTimeoutMargin);
    RETURN_IF_ERROR(limiter_->Wait(bounded));

    absl::Status stream_error;  // an undecodable line or an ERROR event
    auto on_line = [&](std::string_view line) {
      if (IsBlank(line)) return true;  // keep-alive blank line
      absl::StatusOr<WatchEvent> event = DecodeWatchEvent(line, drop);
      if (!event.ok()) {
        stream_error = event.status();
        return false;
      }
      if (event->type == "ERROR") {
        stream_error = WatchErrorStatus(event->object);
        return false;
      }
      return on_event(*std::move(event));
    };
    absl::StatusOr<HttpResponse> response = transport_->Stream(bounded, request, on_line);
    Observe("watch", response, std::nullopt);
    if (!stream_error.ok()) return stream_error;
    if (!response.ok()) return response.status();
    if (!Is2xx(response->status)) return ApiError(response->status, response->body);
    return absl::OkStatus();
  }

  absl::StatusOr<std::string> PodLog(const Context& ctx, const std::string& ns, const std::string& pod,
                                     const std::string& container, long limit_bytes) override {
    if (pod.empty()) return absl::InvalidArgumentError("PodLog: empty pod name");
    Query q;
    q.AddIfSet("container", container);
    if (limit_bytes > 0) q.Add("limitBytes", std::to_string(limit_bytes));
    HttpRequest request = NewRequest("GET", kPods.Path(ns, pod) + "/log" + q.str(), "", "");
    request.headers["Accept"] = "text/plain, */*";
    ASSIGN_OR_RETURN(HttpResponse response, Send(ctx, "log", std::move(request)));
    if (!Is2xx(response.status)) return ApiError(response.status, response.body);
    return std::move(response.body);
  }

  absl::Status AttachStdin(const Context& ctx, const std::string& ns, const std::string& pod,
                           const std::string& container, std::string_view data) override {
    if (pod.empty()) return absl::InvalidArgumentError("AttachStdin: empty pod name");
    const Context bounded = ctx.WithTimeout(kRequestTimeout);
    RETURN_IF_ERROR(limiter_->Wait(bounded));
    const auto start = std::chrono::steady_clock::now();
    absl::StatusOr<UpgradeResponse> response = transport_->Upgrade(
        bounded, NewRequest("GET", AttachStdinPath(ns, pod, container), "", ""),
        AttachSubprotocols());
    absl::Status result;
    if (!response.ok()) {
      result = response.status();
    } else if (response->status != 101) {
      result = ApiError(response->status, response->body);
    } else {
      result = DeliverStdin(bounded, *response->socket, data);
    }
    if (on_request_) {
      // A session that failed after the upgrade counts as no answer.
      const bool answered = response.ok() && (response->status != 101 || result.ok());
      on_request_("attach", answered ? std::to_string(response->status) : "error",
                  std::chrono::duration<double>(std::chrono::steady_clock::now() - start).count());
    }
    return result;
  }

 private:
  // What a write's response is parsed without.
  static const DropKeys& WrittenDropKeys() {
    static const DropKeys keys = {"/metadata/managedFields"};
    return keys;
  }

  static absl::StatusOr<std::string> Dump(const json& object) {
    try {
      return object.dump();
    } catch (const json::exception& e) {  // invalid UTF-8 in a string
      return absl::InvalidArgumentError(absl::StrCat("cannot encode JSON: ", e.what()));
    }
  }

  // The error for a watch ERROR event, whose object is a metav1.Status.
  static absl::Status WatchErrorStatus(const json& status) {
    int code = 500;
    auto c = status.find("code");
    if (c != status.end() && c->is_number_integer()) code = c->get<int>();
    return ApiError(code, status.dump(-1, ' ', false, json::error_handler_t::replace));
  }

  HttpRequest NewRequest(std::string method, std::string path, std::string body,
                                std::string content_type) {
    HttpRequest request;
    request.method = std::move(method);
    request.path_and_query = std::move(path);
    request.headers["Accept"] = kJson;
    request.headers["User-Agent"] = user_agent_;
    if (!content_type.empty()) request.headers["Content-Type"] = std::move(content_type);
    request.body = std::move(body);
    return request;
  }

  void Observe(const char* verb, const absl::StatusOr<HttpResponse>& response,
               std::optional<double> seconds) {
    if (on_request_) {
      on_request_(verb, response.ok() ? std::to_string(response->status) : "error", seconds);
    }
  }

  absl::StatusOr<HttpResponse> Send(const Context& ctx, const char* verb, HttpRequest request) {
    const Context bounded = ctx.WithTimeout(kRequestTimeout);
    RETURN_IF_ERROR(limiter_->Wait(bounded));
    const auto start = std::chrono::steady_clock::now();
    absl::StatusOr<HttpResponse> response = transport_->Do(bounded, request);
    Observe(verb, response,
            std::chrono::duration<double>(std::chrono::steady_clock::now() - start).count());
    return response;
  }

  absl::StatusOr<json> Call(const Context& ctx, const char* verb, std::string method,
                            std::string path, std::string body, std::string content_type,
                            const DropKeys& drop, bool list = false) {
    ASSIGN_OR_RETURN(HttpResponse response,
                     Send(ctx, verb, NewRequest(std::move(method), std::move(path), std::move(body),
                                           std::move(content_type))));
    if (!Is2xx(response.status)) return ApiError(response.status, response.body);
    return list ? ParseListJson(response.body, drop) : ParseJson(response.body, drop);
  }

  absl::StatusOr<json> Put(const Context& ctx, const Resource& r, const std::string& ns,
                           const json& object) {
    std::string name;
    if (object.is_object() && object.contains("metadata") && object["metadata"].is_object() &&
        object["metadata"].contains("name") && object["metadata"]["name"].is_string()) {
      name = object["metadata"]["name"].get<std::string>();
    }
    if (name.empty()) return absl::InvalidArgumentError("Update: object has no metadata.name");
    ASSIGN_OR_RETURN(std::string body, Dump(object));
    return Call(ctx, "update", "PUT", r.Path(ns, name) + write_query_, body, kJson,
                WrittenDropKeys());
  }

  const std::shared_ptr<Transport> transport_;
  const std::shared_ptr<RateLimiter> limiter_;
  const RequestObserver on_request_;  // may be empty
  const std::string write_query_;     // "?fieldManager=..." or ""
  const std::string user_agent_;
};

}  // namespace

std::string UrlEscape(std::string_view text) {
  static constexpr char kHex[] = "0123456789ABCDEF";
  std::string out;
  out.reserve(text.size());
  for (unsigned char c : text) {
    if (absl::ascii_isalnum(c) || c == '-' || c == '_' || c == '.' || c == '~') {
      out.push_back(static_cast<char>(c));
    } else {
      out.push_back('%');
      out.push_back(kHex[c >> 4]);
      out.push_back(kHex[c & 0xF]);
    }
  }
  return out;
}

std::string Resource::Path(std::string_view ns, std::string_view name) const {
  std::string path = group.empty() ? absl::StrCat("/api/", version)
                                   : absl::StrCat("/apis/", group, "/", version);
  if (namespaced && !ns.empty()) absl::StrAppend(&path, "/namespaces/", UrlEscape(ns));
  absl::StrAppend(&path, "/", plural);
  if (!name.empty()) absl::StrAppend(&path, "/", UrlEscape(name));
  return path;
}

std::unique_ptr<Client> NewClient(std::shared_ptr<Transport> transport,
                                  std::shared_ptr<RateLimiter> limiter,
                                  RequestObserver on_request, std::string field_manager,
                                  std::string user_agent) {
  return std::make_unique<HttpClient>(std::move(transport), std::move(limiter),
                                      std::move(on_request), std::move(field_manager),
                                      std::move(user_agent));
}

std::unique_ptr<Client> NewClient(std::shared_ptr<Transport> transport,
                                  const ClientOptions& options) {
  return NewClient(std::move(transport),
                   std::make_shared<RateLimiter>(options.qps, options.burst), options.on_request,
                   options.field_manager, options.user_agent);
}

}  // namespace coderun::kube
