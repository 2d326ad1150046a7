// An in-memory kube::Client for unit tests: an object store with a global resourceVersion
// counter and an event history that watches replay, paged lists, simple label selectors
// ("k=v,k2=v2", "k"), knobs to make watches fail the ways a real server does, and a record of
// what AttachStdin wrote.
// Thread-safe. Header-only so that it stays out of the production library.
#pragma once

#include <atomic>
#include <chrono>
#include <condition_variable>
#include <cstdint>
#include <deque>
#include <map>
#include <mutex>
#include <optional>
#include <set>
#include <string>
#include <string_view>
#include <vector>

#include "absl/status/status.h"
#include "absl/strings/str_split.h"
#include "common/status_macros.h"
#include "kube/client.h"
#include "kube/errors.h"

namespace coderun::informer {

// What the next Watch call does after replaying the events it has (FIFO, one per call).
enum class WatchFault {
  kGoneStatus,  // refuse the watch: 410 returned by Watch, no events
  kGoneEvent,   // after the events, end as an ERROR event with a 410 Status does
  kGarbage,     // end with InvalidArgument, as for an undecodable line
  kDisconnect,  // end with Unavailable, as for a dropped connection
  kEndNormally, // end the stream normally (OK) right away
};

class FakeClient final : public kube::Client {
 public:
  using json = kube::json;
  struct ListCall { std::string ns; kube::ListOptions options; };
  // One AttachStdin call and how it ended.
  struct AttachCall {
    std::string ns, pod, container, data;
    absl::Status status;
    // The container had `stdin: true`. The real server cannot tell: without it the bytes are
    // dropped and the attach still succeeds, so tests check this.
    bool stdin_open = false;
  };
  struct WatchCall {
    std::string ns;
    kube::WatchOptions options;
    std::chrono::steady_clock::time_point at;
    std::optional<WatchFault> fault;  // injected into this call
  };

  // ---- test controls -------------------------------------------------------------------

  // Creates or replaces `object` as is (no conflict checks); assigns a new resourceVersion
  // (and a uid on creation); records ADDED or MODIFIED. Returns the stored object.
  json Put(const kube::Resource& r, json object) {
    std::lock_guard lock(mu_);
    return StoreLocked(r, std::move(object));
  }
  // Deletes an object, recording DELETED. False if it did not exist.
  bool Erase(const kube::Resource& r, const std::string& ns, const std::string& name) {
    std::lock_guard lock(mu_);
    return EraseLocked(r, Key(r, ns, name));
  }
  // Deletes an object without recording an event, as if the DELETED event had been lost
  // behind a compaction: only a relist can notice. False if it did not exist.
  bool EraseWithoutEvent(const kube::Resource& r, const std::string& ns,
                         const std::string& name) {
    std::lock_guard lock(mu_);
    ++rv_;
    return store_[Id(r)].erase(Key(r, ns, name)) > 0;
  }
  // Records a BOOKMARK at the current resourceVersion; returns that resourceVersion.
  std::string Bookmark(const kube::Resource& r) {
    std::lock_guard lock(mu_);
    ++rv_;
    json bm = {{"kind", "Bookmark"}, {"metadata", {{"resourceVersion", std::to_string(rv_)}}}};
    history_[Id(r)].push_back({rv_, "BOOKMARK", std::move(bm)});
    cv_.notify_all();
    return std::to_string(rv_);
  }
  // Forgets the history so far: watches from an older resourceVersion get 410 Gone.
  void Compact() {
    std::lock_guard lock(mu_);
    compacted_ = rv_;
  }
  void InjectWatchFault(WatchFault fault) {
    std::lock_guard lock(mu_);
    faults_.push_back(fault);
  }
  // The next List call returns `status`.
  // Every call fails with `status` (e.g. Unavailable: the apiserver is unreachable) until
  // FailAll(OkStatus()).
  void FailAll(absl::Status status) {
    std::lock_guard lock(mu_);
    fail_all_ = std::move(status);
  }

  void FailNextList(absl::Status status) {
    std::lock_guard lock(mu_);
    list_failures_.push_back(std::move(status));
  }
  // The next Create of resource `r` fails as the ResourceQuota admission plugin refuses one:
  // 403 Forbidden, "exceeded quota: ...".
  void ExceedQuotaOnNextCreate(const kube::Resource& r) {
    std::lock_guard lock(mu_);
    quota_exceeded_.insert(Id(r));
  }
  // The next List call that carries a continue token gets 410 Expired.
  void ExpireNextContinue() {
    std::lock_guard lock(mu_);
    expire_continue_ = true;
  }
  // How long a watch stays open (real time) before the "server" ends it normally.
  void set_watch_duration(std::chrono::milliseconds d) {
    std::lock_guard lock(mu_);
    watch_duration_ = d;
  }
  // Creates in `ns` fail as the apiserver's do for a deleted namespace (404 NotFound) or
  // one being deleted (403 Forbidden, "... because it is being terminated").
  void SetNamespaceGone(const std::string& ns, bool terminating) {
    std::lock_guard lock(mu_);
    gone_namespaces_[ns] = terminating;
  }
  // Reads of this Pod's log fail with HTTP `code` (until SetPodLog).
  void SetPodLogError(const std::string& ns, const std::string& pod, int code) {
    std::lock_guard lock(mu_);
    pod_log_errors_[ns + "/" + pod] = code;
  }
  // Attaches to this Pod fail with HTTP `code` (403 refused, 404 gone, 500 the session broke,
  // ...), as the real client reports them; 0 lets them through again.
  void SetAttachError(const std::string& ns, const std::string& pod, int code) {
    std::lock_guard lock(mu_);
    if (code == 0) {
      attach_errors_.erase(ns + "/" + pod);
    } else {
      attach_errors_[ns + "/" + pod] = code;
    }
  }
  // Every AttachStdin call so far, failed ones included, in order.
  std::vector<AttachCall> attach_calls() const {
    std::lock_guard lock(mu_);
    return attach_calls_;
  }
  // Patches that would store an object larger than `bytes` (as nlohmann dumps it) fail as
  // etcd's size limit makes them fail; 0 = no limit.
  void SetMaxObjectBytes(size_t bytes) { max_object_bytes_ = bytes; }
  void SetPodLog(const std::string& ns, const std::string& pod, std::string text) {
    std::lock_guard lock(mu_);
    pod_log_errors_.erase(ns + "/" + pod);
    pod_logs_[ns + "/" + pod] = std::move(text);
  }
  std::vector<ListCall> list_calls() const {
    std::lock_guard lock(mu_);
    return list_calls_;
  }
  int pod_log_reads() const {
    std::lock_guard lock(mu_);
    return pod_log_reads_;
  }
  std::vector<WatchCall> watch_calls() const {
    std::lock_guard lock(mu_);
    return watch_calls_;
  }
  std::string resource_version() const {
    std::lock_guard lock(mu_);
    return std::to_string(rv_);
  }

  // ---- kube::Client --------------------------------------------------------------------

  absl::StatusOr<json> Get(const Context& ctx, const kube::Resource& r, const std::string& ns,
                           const std::string& name, const kube::DropKeys& drop = {}) override {
    RETURN_IF_ERROR(Enter(ctx));
    if (name.empty()) return absl::InvalidArgumentError("Get: empty name");
    std::lock_guard lock(mu_);
    const json* obj = FindLocked(r, Key(r, ns, name));
    if (!obj) return NotFound(r, name);
    return Dropped(*obj, drop);
  }

  absl::StatusOr<json> List(const Context& ctx, const kube::Resource& r, const std::string& ns,
                            const kube::ListOptions& opts,
                            const kube::DropKeys& drop = {}) override {
    RETURN_IF_ERROR(Enter(ctx));
    std::lock_guard lock(mu_);
    list_calls_.push_back({ns, opts});
    if (!list_failures_.empty()) {
      absl::Status s = std::move(list_failures_.front());
      list_failures_.pop_front();
      return s;
    }
    if (!opts.continue_token.empty() && expire_continue_) {
      expire_continue_ = false;
      return Error(410, "Expired", "continue token expired");
    }
    json items = json::array();
    std::string last, next;
    for (const auto& [key, obj] : store_[Id(r)]) {
      if (!opts.continue_token.empty() && key <= opts.continue_token) continue;
      if (!InNamespace(r, ns, obj) || !Selected(opts.label_selector, obj)) continue;
      if (opts.limit > 0 && static_cast<int>(items.size()) == opts.limit) {
        next = last;  // the token is the last key served
        break;
      }
      items.push_back(Dropped(obj, drop));
      last = key;
    }
    json meta = {{"resourceVersion", std::to_string(rv_)}};
    if (!next.empty()) meta["continue"] = next;
    return json{{"kind", "List"}, {"metadata", meta}, {"items", items}};
  }

  absl::StatusOr<json> Create(const Context& ctx, const kube::Resource& r, const std::string& ns,
                              const json& object) override {
    RETURN_IF_ERROR(Enter(ctx));
    std::lock_guard lock(mu_);
    RETURN_IF_ERROR(NamespaceGoneLocked(r, ns));
    if (quota_exceeded_.erase(Id(r))) {
      return Error(403, "Forbidden",
                   r.plural + " is forbidden: exceeded quota: q, requested: count/" + r.plural +
                       "=1, used: 1, limited: 1");
    }
    json obj = object;
    if (r.namespaced) obj["metadata"]["namespace"] = ns;
    std::string name = Meta(obj, "name");
    if (name.empty()) {
      name = Meta(obj, "generateName") + std::to_string(rv_ + 1);
      obj["metadata"]["name"] = name;
    }
    if (FindLocked(r, Key(r, ns, name))) return Error(409, "AlreadyExists", name + " exists");
    obj["metadata"].erase("uid");
    obj["metadata"]["generation"] = 1;
    return Written(StoreLocked(r, std::move(obj)));
  }

  absl::StatusOr<json> Update(const Context& ctx, const kube::Resource& r, const std::string& ns,
                              const json& object) override {
    RETURN_IF_ERROR(Enter(ctx));
    return Written(Replace(r, ns, object, /*status_only=*/false));
  }

  absl::StatusOr<json> MergePatch(const Context& ctx, const kube::Resource& r,
                                  const std::string& ns, const std::string& name,
                                  const json& patch,
                                  const std::string& subresource = "") override {
    RETURN_IF_ERROR(Enter(ctx));
    if (name.empty()) return absl::InvalidArgumentError("MergePatch: empty name");
    json merged;
    {
      std::lock_guard lock(mu_);
      const json* old = FindLocked(r, Key(r, ns, name));
      if (!old) return NotFound(r, name);
      // Optimistic concurrency, as the apiserver does it: a resourceVersion in the patch
      // must be the stored one.
      if (auto meta = patch.find("metadata");
          meta != patch.end() && meta->contains("resourceVersion") &&
          (*meta)["resourceVersion"] != (*old)["metadata"]["resourceVersion"]) {
        return Error(409, "Conflict", "the object has been modified");
      }
      merged = *old;
    }
    merged.merge_patch(subresource == "status" ? json{{"status", patch.value("status", json())}}
                                               : patch);
    if (size_t limit = max_object_bytes_.load(); limit != 0 && merged.dump().size() > limit) {
      // What the apiserver passes on from etcd for an object over --max-request-bytes.
      return Error(500, "", "etcdserver: request is too large");
    }
    return Written(Replace(r, ns, merged, subresource == "status"));
  }

  // What a write returns: the object without metadata.managedFields, as the real client.
  static absl::StatusOr<json> Written(absl::StatusOr<json> object) {
    if (object.ok() && object->contains("metadata")) (*object)["metadata"].erase("managedFields");
    return object;
  }

  absl::Status Delete(const Context& ctx, const kube::Resource& r, const std::string& ns,
                      const std::string& name, const kube::DeleteOptions& opts = {}) override {
    RETURN_IF_ERROR(Enter(ctx));
    if (name.empty()) return absl::InvalidArgumentError("Delete: empty name");
    std::lock_guard lock(mu_);
    const json* obj = FindLocked(r, Key(r, ns, name));
    if (!obj) return NotFound(r, name);
    if (opts.precondition_uid && Meta(*obj, "uid") != *opts.precondition_uid) {
      return Error(409, "Conflict", "uid precondition failed");
    }
    EraseLocked(r, Key(r, ns, name));
    return absl::OkStatus();
  }

  // Ends (OK) after the watch duration or when `ctx` is cancelled (Cancelled).
  absl::Status Watch(const Context& ctx, const kube::Resource& r, const std::string& ns,
                     const kube::WatchOptions& opts,
                     const std::function<bool(kube::WatchEvent&&)>& on_event,
                     const kube::DropKeys& drop = {}) override {
    RETURN_IF_ERROR(Enter(ctx));
    CancelRegistration wake = ctx.OnCancel([this] {
      std::lock_guard lock(mu_);
      cv_.notify_all();
    });
    std::unique_lock lock(mu_);
    std::optional<WatchFault> fault;
    if (!faults_.empty()) {
      fault = faults_.front();
      faults_.pop_front();
    }
    watch_calls_.push_back({ns, opts, std::chrono::steady_clock::now(), fault});
    if (fault == WatchFault::kGoneStatus) return Error(410, "Gone", "watch refused");
    uint64_t pos = opts.resource_version.empty() ? rv_ : std::stoull(opts.resource_version);
    if (pos < compacted_) return Error(410, "Expired", "too old resource version");
    const auto deadline = std::chrono::steady_clock::now() + watch_duration_;
    while (true) {
      std::vector<kube::WatchEvent> batch;
      for (const Logged& e : history_[Id(r)]) {
        if (e.rv <= pos) continue;
        pos = e.rv;
        if (e.type == "BOOKMARK" ? !opts.allow_bookmarks
                                 : !InNamespace(r, ns, e.object) ||
                                       !Selected(opts.label_selector, e.object)) {
          continue;
        }
        batch.push_back({e.type, Dropped(e.object, drop)});
      }
      lock.unlock();
      for (auto& event : batch) {
        if (!on_event(std::move(event))) return absl::OkStatus();
      }
      if (fault) return Fail(*fault);
      lock.lock();
      if (ctx.cancelled()) return absl::CancelledError("watch cancelled");
      if (history_[Id(r)].empty() || history_[Id(r)].back().rv <= pos) {
        if (cv_.wait_until(lock, deadline) == std::cv_status::timeout) return absl::OkStatus();
      }
      if (ctx.cancelled()) return absl::CancelledError("watch cancelled");
    }
  }

  absl::StatusOr<std::string> PodLog(const Context& ctx, const std::string& ns,
                                     const std::string& pod, const std::string&,
                                     long limit_bytes) override {
    RETURN_IF_ERROR(Enter(ctx));
    std::lock_guard lock(mu_);
    ++pod_log_reads_;
    if (auto e = pod_log_errors_.find(ns + "/" + pod); e != pod_log_errors_.end()) {
      return Error(e->second, "", "log unavailable");
    }
    auto it = pod_logs_.find(ns + "/" + pod);
    if (it == pod_logs_.end()) return Error(404, "NotFound", "no log for " + pod);
    if (limit_bytes > 0) return it->second.substr(0, static_cast<size_t>(limit_bytes));
    return it->second;
  }

  // As the apiserver refuses an attach: no such Pod (404) or no such container (400). Like the
  // real client, the data is taken whole or not at all. Does not check that the Pod is
  // scheduled and running (tests say which Pod is warm), nor, as the real server does not,
  // that the container has stdin (AttachCall::stdin_open records it).
  absl::Status AttachStdin(const Context& ctx, const std::string& ns, const std::string& pod,
                           const std::string& container, std::string_view data) override {
    RETURN_IF_ERROR(Enter(ctx));
    if (pod.empty()) return absl::InvalidArgumentError("AttachStdin: empty pod name");
    std::lock_guard lock(mu_);
    bool stdin_open = false;
    absl::Status status = [&]() -> absl::Status {
      const json* obj = FindLocked(kube::kPods, Key(kube::kPods, ns, pod));
      if (!obj) return NotFound(kube::kPods, pod);
      json containers = obj->value("spec", json::object()).value("containers", json::array());
      if (container.empty() && containers.size() != 1) {
        return Error(400, "BadRequest", "a container name must be specified for pod " + pod);
      }
      bool found = false;
      for (const json& c : containers) {
        if (!container.empty() && c.value("name", "") != container) continue;
        found = true;
        stdin_open = c.value("stdin", false);
      }
      if (!found) {
        return Error(400, "BadRequest", "container " + container + " is not valid for pod " + pod);
      }
      if (auto e = attach_errors_.find(ns + "/" + pod); e != attach_errors_.end()) {
        return Error(e->second, "", "attach to " + pod + " failed");
      }
      return absl::OkStatus();
    }();
    attach_calls_.push_back({ns, pod, container, std::string(data), status, stdin_open});
    return status;
  }

 private:
  // Where every call starts: the context's end, then an injected failure.
  absl::Status Enter(const Context& ctx) {
    RETURN_IF_ERROR(ctx.Err());
    std::lock_guard lock(mu_);
    return fail_all_;
  }

  // What a write into a deleted (404) or terminating (403) namespace gets. Requires mu_.
  absl::Status NamespaceGoneLocked(const kube::Resource& r, const std::string& ns) const {
    auto gone = gone_namespaces_.find(ns);
    if (!r.namespaced || gone == gone_namespaces_.end()) return absl::OkStatus();
    return gone->second ? NamespaceTerminating(ns)
                        : Error(404, "NotFound", "namespaces \"" + ns + "\" not found");
  }

  absl::Status fail_all_;                        // guarded by mu_
  std::map<std::string, bool> gone_namespaces_;  // guarded by mu_; value: terminating
  std::map<std::string, int> pod_log_errors_;    // guarded by mu_
  std::map<std::string, int> attach_errors_;     // guarded by mu_; "ns/pod" -> HTTP code
  std::vector<AttachCall> attach_calls_;         // guarded by mu_
  struct Logged {
    uint64_t rv;
    std::string type;
    json object;
  };

  static absl::Status Error(int code, const std::string& reason, const std::string& message) {
    json status = {{"kind", "Status"}, {"status", "Failure"}, {"code", code},
                   {"reason", reason}, {"message", message}};
    return kube::ApiError(code, status.dump());
  }
  // As the apiserver says an object is not there: details name what was looked for.
  static absl::Status NotFound(const kube::Resource& r, const std::string& name) {
    json status = {{"kind", "Status"}, {"status", "Failure"}, {"code", 404},
                   {"reason", "NotFound"}, {"message", r.plural + " \"" + name + "\" not found"},
                   {"details", {{"name", name}, {"kind", r.plural}}}};
    return kube::ApiError(404, status.dump());
  }
  // As the NamespaceLifecycle admission plugin refuses a create in a namespace being deleted.
  static absl::Status NamespaceTerminating(const std::string& ns) {
    json status = {{"kind", "Status"}, {"status", "Failure"}, {"code", 403},
                   {"reason", "Forbidden"},
                   {"message", "unable to create new content in namespace " + ns +
                                   " because it is being terminated"},
                   {"details", {{"causes", {{{"reason", kube::kNamespaceTerminatingCause},
                                             {"message", "namespace " + ns + " is being terminated"},
                                             {"field", "metadata.namespace"}}}}}}};
    return kube::ApiError(403, status.dump());
  }
  // metadata.<field> as a string, "" if absent.
  static std::string Meta(const json& obj, const char* field) {
    auto m = obj.find("metadata");
    if (m == obj.end() || !m->is_object()) return "";
    auto f = m->find(field);
    return f != m->end() && f->is_string() ? f->get<std::string>() : "";
  }
  static std::string Id(const kube::Resource& r) { return r.group + "/" + r.plural; }
  static std::string Key(const kube::Resource& r, const std::string& ns, const std::string& n) {
    return (r.namespaced ? ns : "") + "/" + n;
  }
  static std::string KeyOfObject(const kube::Resource& r, const json& obj) {
    return Key(r, Meta(obj, "namespace"), Meta(obj, "name"));
  }
  static bool InNamespace(const kube::Resource& r, const std::string& ns, const json& obj) {
    return !r.namespaced || ns.empty() || Meta(obj, "namespace") == ns;
  }
  static bool Selected(const std::string& selector, const json& obj) {
    if (selector.empty()) return true;
    json labels = obj.value("metadata", json::object()).value("labels", json::object());
    for (absl::string_view term : absl::StrSplit(selector, ',', absl::SkipEmpty())) {
      std::vector<std::string> kv = absl::StrSplit(term, absl::MaxSplits('=', 1));
      auto it = labels.find(kv[0]);
      if (it == labels.end()) return false;
      if (kv.size() == 2 && (!it->is_string() || *it != kv[1])) return false;
    }
    return true;
  }
  static json Dropped(json j, const kube::DropKeys& drop) {
    kube::DropFields(j, drop);
    return j;
  }

  const json* FindLocked(const kube::Resource& r, const std::string& key) {
    auto& objects = store_[Id(r)];
    auto it = objects.find(key);
    return it == objects.end() ? nullptr : &it->second;
  }
  json StoreLocked(const kube::Resource& r, json obj) {
    const std::string key = KeyOfObject(r, obj);
    auto& objects = store_[Id(r)];
    auto it = objects.find(key);
    const bool created = it == objects.end();
    if (created && !obj["metadata"].contains("uid")) {
      obj["metadata"]["uid"] = "uid-" + std::to_string(++uids_);
    }
    obj["metadata"]["resourceVersion"] = std::to_string(++rv_);
    objects[key] = obj;
    history_[Id(r)].push_back({rv_, created ? "ADDED" : "MODIFIED", obj});
    cv_.notify_all();
    return obj;
  }
  bool EraseLocked(const kube::Resource& r, const std::string& key) {
    auto& objects = store_[Id(r)];
    auto it = objects.find(key);
    if (it == objects.end()) return false;
    json obj = std::move(it->second);
    objects.erase(it);
    obj["metadata"]["resourceVersion"] = std::to_string(++rv_);
    history_[Id(r)].push_back({rv_, "DELETED", std::move(obj)});
    cv_.notify_all();
    return true;
  }
  absl::StatusOr<json> Replace(const kube::Resource& r, const std::string& ns,
                               const json& object, bool status_only) {
    if (Meta(object, "name").empty()) {
      return absl::InvalidArgumentError("Update: object has no metadata.name");
    }
    std::lock_guard lock(mu_);
    RETURN_IF_ERROR(NamespaceGoneLocked(r, ns));
    json obj = object;
    if (r.namespaced) obj["metadata"]["namespace"] = ns;
    const std::string name = Meta(obj, "name");
    const json* old = FindLocked(r, Key(r, ns, name));
    if (!old) return NotFound(r, name);
    std::string want = obj["metadata"].value("resourceVersion", "");
    if (!want.empty() && want != Meta(*old, "resourceVersion")) {
      return Error(409, "Conflict", "the object has been modified");
    }
    json next = *old;
    if (status_only) {
      next["status"] = obj.value("status", json());
    } else {
      next = obj;
      next["metadata"]["uid"] = Meta(*old, "uid");
      if (old->contains("status")) next["status"] = old->at("status");
      int64_t gen = old->at("metadata").value("generation", int64_t{1});
      bool spec_changed = obj.value("spec", json()) != old->value("spec", json());
      next["metadata"]["generation"] = spec_changed ? gen + 1 : gen;
    }
    return StoreLocked(r, std::move(next));
  }
  static absl::Status Fail(WatchFault fault) {
    switch (fault) {
      case WatchFault::kGoneEvent:  // as kube::Client returns a watch's ERROR event
        return Error(410, "Expired", "too old resource version");
      case WatchFault::kGarbage:
        return absl::InvalidArgumentError("undecodable watch event: {\"type\":\"ADDED\",\"obj");
      case WatchFault::kDisconnect:
        return absl::UnavailableError("connection reset by peer");
      default:
        return absl::OkStatus();
    }
  }

  mutable std::mutex mu_;
  std::condition_variable cv_;  // with mu_: new history
  // All guarded by mu_.
  uint64_t rv_ = 100;
  uint64_t compacted_ = 0;
  uint64_t uids_ = 0;
  std::map<std::string, std::map<std::string, json>> store_;  // resource id -> "ns/name" -> obj
  std::set<std::string> quota_exceeded_;  // resource ids: the next Create is refused
  std::map<std::string, std::vector<Logged>> history_;        // resource id -> events
  std::deque<WatchFault> faults_;
  std::deque<absl::Status> list_failures_;
  bool expire_continue_ = false;
  std::chrono::milliseconds watch_duration_{50};
  std::map<std::string, std::string> pod_logs_;
  std::vector<ListCall> list_calls_;
  std::vector<WatchCall> watch_calls_;
  int pod_log_reads_ = 0;
  std::atomic<size_t> max_object_bytes_{0};
};

}  // namespace coderun::informer
