// A typed-by-resource, JSON-valued Kubernetes API client (the shape of client-go's dynamic
// client). Implementations are thread-safe.
#pragma once

#include <chrono>
#include <functional>
#include <memory>
#include <optional>
#include <string>
#include <string_view>
#include <unordered_set>

#include "absl/status/statusor.h"
#include "common/context.h"
#include "nlohmann/json.hpp"

namespace coderun::kube {

using json = nlohmann::json;

// Identifies a resource collection, e.g. {"", "v1", "pods", true}.
struct Resource {
  std::string group;    // "" for the core group
  std::string version;  // "v1", "v1alpha1"
  std::string plural;   // "pods", "coderuns"
  bool namespaced = true;

  // "/api/v1" or "/apis/<group>/<version>" + "/namespaces/<ns>" (when ns is not empty and
  // the resource is namespaced) + "/<plural>" + ("/<name>" when name is not empty). ns and
  // name are percent-encoded (a no-op for valid Kubernetes names).
  std::string Path(std::string_view ns, std::string_view name = "") const;
};

inline const Resource kPods{"", "v1", "pods", true};
inline const Resource kSecrets{"", "v1", "secrets", true};
inline const Resource kEvents{"", "v1", "events", true};
inline const Resource kNetworkPolicies{"networking.k8s.io", "v1", "networkpolicies", true};
inline const Resource kLeases{"coordination.k8s.io", "v1", "leases", true};
inline const Resource kCodeRuns{"coderun.dev", "v1alpha1", "coderuns", true};

// Fields dropped while parsing, as JSON Pointers relative to the object (RFC 6901:
// "/spec/code", "/metadata/managedFields"; "~1" for a "/" inside a key, "*" for every index
// of an array): they never reach memory as JSON values. Keeps caches small. Only the field
// at that path goes; the same key elsewhere (a label named "annotations", a watch ERROR
// Status's "code") stays. A path without the leading "/" matches nothing.
using DropKeys = std::unordered_set<std::string>;

struct ListOptions {
  std::string label_selector;
  std::string field_selector;
  int limit = 0;                 // page size; 0 = server default (no paging)
  std::string continue_token;
  std::string resource_version;  // "" = most recent (quorum read)
};

struct WatchOptions {
  std::string label_selector;
  std::string field_selector;
  std::string resource_version;  // resume point
  int timeout_seconds = 300;     // server-side watch timeout
  bool allow_bookmarks = true;
};

struct WatchEvent {
  std::string type;  // ADDED, MODIFIED, DELETED, BOOKMARK, ERROR
  json object;       // the object (for ERROR: a metav1.Status)
};

// Parses one watch-stream line; `drop` applies to the event's object. Malformed JSON, a
// missing/unknown "type" or a non-object "object" is InvalidArgument (the caller relists).
// Total: never throws.
absl::StatusOr<WatchEvent> DecodeWatchEvent(std::string_view line, const DropKeys& drop = {});

// Parses JSON text (one object), dropping the `drop` paths. Never throws; InvalidArgument
// on malformed input.
absl::StatusOr<json> ParseJson(std::string_view text, const DropKeys& drop = {});
// As ParseJson for a list body: the `drop` paths apply to each of `items`.
absl::StatusOr<json> ParseListJson(std::string_view text, const DropKeys& drop = {});
// Removes the `drop` paths from a parsed object (what ParseJson would have dropped).
void DropFields(json& object, const DropKeys& drop);

struct DeleteOptions {
  std::optional<std::string> precondition_uid;  // only delete this incarnation
  std::string propagation_policy;               // "Background", "Foreground", "Orphan" or ""
};

inline constexpr std::chrono::seconds kRequestTimeout{30};
inline constexpr std::chrono::seconds kWatchTimeoutMargin{30};

class Client {
 public:
  virtual ~Client() = default;

  // All calls return API errors as described in errors.h. `ns` is ignored for
  // cluster-scoped resources and means "all namespaces" when empty on List/Watch.
  // Every call is bounded by `ctx` (common/context.h): DeadlineExceeded at its deadline,
  // Cancelled soon after it is cancelled. A call whose context has no deadline gets
  // kRequestTimeout (a watch: its timeoutSeconds plus kWatchTimeoutMargin).
  virtual absl::StatusOr<json> Get(const Context& ctx, const Resource& r, const std::string& ns,
                                   const std::string& name, const DropKeys& drop = {}) = 0;
  // One page of a list (a *List object: metadata.resourceVersion, metadata.continue, items).
  virtual absl::StatusOr<json> List(const Context& ctx, const Resource& r, const std::string& ns,
                                    const ListOptions& opts, const DropKeys& drop = {}) = 0;
  // Create, Update and MergePatch return the object as the server wrote it, without its
  // metadata.managedFields (the controller never reads them; they are often most of it).
  virtual absl::StatusOr<json> Create(const Context& ctx, const Resource& r, const std::string& ns,
                                      const json& object) = 0;
  // PUT; object.metadata.resourceVersion gives optimistic concurrency (409 Conflict).
  virtual absl::StatusOr<json> Update(const Context& ctx, const Resource& r, const std::string& ns,
                                      const json& object) = 0;
  // PATCH with application/merge-patch+json; `subresource` may be "status".
  virtual absl::StatusOr<json> MergePatch(const Context& ctx, const Resource& r, const std::string& ns,
                                          const std::string& name, const json& patch,
                                          const std::string& subresource = "") = 0;
  // NotFound is returned as an error; callers that want idempotence treat it as done.
  virtual absl::Status Delete(const Context& ctx, const Resource& r, const std::string& ns, const std::string& name,
                              const DeleteOptions& opts = {}) = 0;
  // Streams a watch: `on_event` gets each decoded event; returning false stops. Returns OK
  // when the server ends the stream normally, the API error when the watch is refused
  // (e.g. 410 Gone), InvalidArgument for an undecodable line, Unavailable on a dropped
  // connection. Blocking.
  virtual absl::Status Watch(const Context& ctx, const Resource& r, const std::string& ns, const WatchOptions& opts,
                             const std::function<bool(WatchEvent&&)>& on_event,
                             const DropKeys& drop = {}) = 0;
  // GET pods/<name>/log?limitBytes=N (container may be empty).
  virtual absl::StatusOr<std::string> PodLog(const Context& ctx, const std::string& ns, const std::string& pod,
                                             const std::string& container, long limit_bytes) = 0;
  // Writes `data` to the stdin of a running container through pods/attach (a WebSocket; see
  // attach.h), then closes that stdin: a container with `stdin: true, stdinOnce: true` reads
  // exactly `data` and then EOF. OK only when every byte was written and the session closed
  // cleanly (with v5.channel.k8s.io: after the server reported success). A refused attach is
  // an API error: 404 NotFound (no such Pod), 400 InvalidArgument (no such container), 403
  // PermissionDenied (RBAC: the WebSocket's GET needs get on pods/attach, and from Kubernetes
  // 1.35 create too), 500 Unavailable (e.g. the container is not running); a session that
  // breaks is Unavailable. Any attempt may have used up a stdinOnce stdin, failed ones too.
  // The server cannot tell a container without `stdin: true`: the bytes are dropped and the
  // call succeeds. Bounded as every call (kRequestTimeout without a deadline). An empty
  // `container` means the Pod's only container. Unimplemented unless overridden.
  virtual absl::Status AttachStdin(const Context& ctx, const std::string& ns,
                                   const std::string& pod, const std::string& container,
                                   std::string_view data);
};

inline absl::Status Client::AttachStdin(const Context&, const std::string&, const std::string&,
                                        const std::string&, std::string_view) {
  return absl::UnimplementedError("AttachStdin is not implemented by this client");
}

}  // namespace coderun::kube
