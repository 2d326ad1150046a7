// List-then-watch cache of one resource (the shape of client-go's SharedInformer), over one
// or more namespaces. Objects are decoded on arrival into a slim typed value T, so the cache
// holds only what reconciling needs.
#pragma once

#include <algorithm>
#include <atomic>
#include <chrono>
#include <functional>
#include <map>
#include <memory>
#include <mutex>
#include <optional>
#include <set>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

#include "absl/status/statusor.h"
#include "common/clock.h"
#include "common/log.h"
#include "informer/indexer.h"
#include "informer/reflector.h"
#include "kube/client.h"
#include "kube/object.h"

namespace coderun::informer {

// "namespace/name" (or "name" for cluster-scoped objects); "" when metadata.name is missing
// or not a string. Never throws.
std::string KeyOf(const kube::json& object);

// Inverse of KeyOf: "ns/name" -> {"ns", "name"}; "name" -> {"", "name"}.
std::pair<std::string, std::string> SplitKey(std::string_view key);

struct InformerOptions {
  kube::Resource resource;
  std::vector<std::string> namespaces;  // empty: all namespaces (one cluster-wide watch)
  std::string label_selector;
  kube::DropKeys drop_keys;             // dropped while parsing (see kube::ParseJson)
  int page_size = 200;                  // list pagination; 0 = one unpaged list
  // Server-side watch timeout; each watch adds up to 25% random jitter.
  int watch_timeout_seconds = 60;
  std::chrono::milliseconds backoff_initial{100};  // retry after a failed list or watch,
  std::chrono::milliseconds backoff_max{30000};    // doubling up to this (+ up to 20% jitter)
};

// Receives every change after it is applied to the cache. `old_obj` is null for an add,
// `new_obj` null for a delete. Called from the informer's watch threads, never with the
// cache lock held; must not block. Changes of one namespace arrive in order.
template <typename T>
using Handler = std::function<void(const std::string& key, const T* old_obj, const T* new_obj)>;

// Thread-safe. Lifecycle: construct, AddIndexer*, AddHandler*, Start, (reads), Stop (or
// destroy).
//
// Cache semantics: an object Decode refuses is logged and treated as absent (a cached
// version of it is removed, with a delete notification), so the cache always equals
// "the decodable objects the API server holds". A relist emits adds for new keys, deletes
// for vanished ones and updates for objects whose resourceVersion changed; unchanged
// objects are not re-announced.
template <typename T>
class Informer {
 public:
  // `decode` turns an API object into T; an object it refuses is logged and skipped.
  using Decode = std::function<absl::StatusOr<T>(const kube::json&)>;

  // `client` and `clock` must outlive the Informer.
  Informer(kube::Client& client, InformerOptions options, Decode decode, Clock& clock)
      : client_(client), options_(std::move(options)), decode_(std::move(decode)),
        clock_(clock) {}
  ~Informer() { Stop(); }
  Informer(const Informer&) = delete;
  Informer& operator=(const Informer&) = delete;

  // Must be called before Start(); later calls are logged and ignored.
  void AddHandler(Handler<T> handler);
  // Registers a named index (client-go's Indexer): every object the cache holds is filed
  // under the values `fn` returns, kept current on each add, update, delete and relist
  // before handlers hear of the change. Must be called before Start(); a later call, a
  // taken name or an empty `fn` is logged and ignored.
  void AddIndexer(const std::string& name, IndexFunc<T> fn);

  // Starts one list/watch thread per namespace. Reconnects with capped exponential backoff
  // on errors; relists on 410 Gone and on undecodable events; never gives up until Stop().
  // Calls after the first are ignored.
  void Start();
  // Stops and joins the threads; idempotent. Usually returns at once; a watch blocked on a
  // silent server delays it by up to watch_timeout_seconds * 1.25 (+ the client's receive
  // timeout margin if the server never closes the stream; see Reflector).
  void Stop();

  // True once every namespace's initial list has been applied.
  bool HasSynced() const;

  // Snapshot reads; thread-safe. Objects are immutable once stored (copy before changing).
  std::shared_ptr<const T> Get(const std::string& key) const;
  std::vector<std::shared_ptr<const T>> List() const;
  // The cached objects filed under `value` in index `name`, in key order; empty for an
  // unknown index (logged).
  std::vector<std::shared_ptr<const T>> ByIndex(const std::string& name,
                                                const std::string& value) const;
  // Their keys, and how many there are.
  std::vector<std::string> IndexKeys(const std::string& name, const std::string& value) const;
  size_t IndexCount(const std::string& name, const std::string& value) const;

  const InformerStats& stats() const { return stats_; }

 private:
  struct Entry {
    std::shared_ptr<const T> object;
    std::string resource_version;
  };
  struct Change {
    std::string key;
    std::shared_ptr<const T> old_obj, new_obj;
  };

  // Feeds one namespace's Reflector output into the cache. Used by that thread only.
  class Sink final : public ReflectorSink {
   public:
    Sink(Informer& informer, std::string ns) : informer_(informer), ns_(std::move(ns)) {}
    void ListBegin() override { pending_.clear(); }
    void ListItem(kube::json&& object) override {
      std::string key = KeyOf(object);
      if (auto entry = informer_.DecodeEntry(key, object)) pending_[key] = std::move(*entry);
    }
    void ListEnd() override { informer_.Replace(ns_, std::exchange(pending_, {})); }
    void ListAbort() override { pending_.clear(); }
    void Upsert(kube::json&& object) override { informer_.Upsert(object); }
    void Remove(kube::json&& object) override { informer_.Remove(KeyOf(object)); }

   private:
    Informer& informer_;
    const std::string ns_;
    std::map<std::string, Entry> pending_;  // the list being received
  };

  std::optional<Entry> DecodeEntry(const std::string& key, const kube::json& object) const;
  void Replace(const std::string& ns, std::map<std::string, Entry> items);
  void Upsert(const kube::json& object);
  void Remove(const std::string& key);
  void Notify(const std::vector<Change>& changes) const;
  // Index `name`'s set for `value` (null if none); logs an unknown index. Holds mu_.
  const std::set<std::string>* IndexedLocked(const std::string& name,
                                             const std::string& value) const;

  kube::Client& client_;
  const InformerOptions options_;
  const Decode decode_;
  Clock& clock_;
  InformerStats stats_;

  std::mutex lifecycle_mu_;     // serializes AddHandler/Start/Stop
  bool started_ = false;        // guarded by lifecycle_mu_
  std::atomic<bool> running_{false};  // set (release) once reflectors_ is complete
  // Written under lifecycle_mu_ before the threads start; read-only afterwards.
  std::vector<Handler<T>> handlers_;
  std::vector<std::unique_ptr<Sink>> sinks_;            // outlive reflectors_ (declared first)
  std::vector<std::unique_ptr<Reflector>> reflectors_;  // fixed once running_

  mutable std::mutex mu_;
  std::map<std::string, Entry> cache_;  // guarded by mu_; ordered so a namespace is a range
  // Guarded by mu_; its index functions are fixed before Start (under lifecycle_mu_ too).
  Indices<T> indices_;
};

// ---- implementation -------------------------------------------------------------------

template <typename T>
void Informer<T>::AddHandler(Handler<T> handler) {
  std::lock_guard lock(lifecycle_mu_);
  if (started_) {
    log::Error("Informer::AddHandler after Start ignored",
               {{"resource", options_.resource.plural}});
    return;
  }
  handlers_.push_back(std::move(handler));
}

template <typename T>
void Informer<T>::AddIndexer(const std::string& name, IndexFunc<T> fn) {
  std::lock_guard lock(lifecycle_mu_);
  std::lock_guard cache_lock(mu_);
  if (started_ || !indices_.Add(name, std::move(fn))) {
    log::Error("Informer::AddIndexer ignored (after Start, duplicate name or no function)",
               {{"resource", options_.resource.plural}, {"index", name}});
  }
}

template <typename T>
void Informer<T>::Start() {
  std::lock_guard lock(lifecycle_mu_);
  if (started_) return;
  started_ = true;
  std::vector<std::string> namespaces = options_.namespaces;
  if (namespaces.empty() || !options_.resource.namespaced) namespaces = {""};
  std::sort(namespaces.begin(), namespaces.end());
  namespaces.erase(std::unique(namespaces.begin(), namespaces.end()), namespaces.end());
  if (namespaces.size() > 1 && namespaces.front().empty()) namespaces = {""};  // "" covers all
  for (const std::string& ns : namespaces) {
    sinks_.push_back(std::make_unique<Sink>(*this, ns));
    ReflectorOptions r;
    r.resource = options_.resource;
    r.ns = ns;
    r.label_selector = options_.label_selector;
    r.drop_keys = options_.drop_keys;
    r.page_size = options_.page_size;
    r.watch_timeout_seconds = options_.watch_timeout_seconds;
    r.backoff_initial = options_.backoff_initial;
    r.backoff_max = options_.backoff_max;
    reflectors_.push_back(
        std::make_unique<Reflector>(client_, std::move(r), *sinks_.back(), clock_, stats_));
  }
  running_.store(true, std::memory_order_release);
  for (auto& reflector : reflectors_) reflector->Start();
}

template <typename T>
void Informer<T>::Stop() {
  std::lock_guard lock(lifecycle_mu_);
  for (auto& reflector : reflectors_) reflector->RequestStop();  // all at once, then wait
  for (auto& reflector : reflectors_) reflector->Join();
}

template <typename T>
bool Informer<T>::HasSynced() const {
  // Lock-free so that a readiness probe never waits behind Stop().
  if (!running_.load(std::memory_order_acquire)) return false;
  for (const auto& reflector : reflectors_) {
    if (!reflector->HasSynced()) return false;
  }
  return true;
}

template <typename T>
std::shared_ptr<const T> Informer<T>::Get(const std::string& key) const {
  std::lock_guard lock(mu_);
  auto it = cache_.find(key);
  return it == cache_.end() ? nullptr : it->second.object;
}

template <typename T>
std::vector<std::shared_ptr<const T>> Informer<T>::List() const {
  std::lock_guard lock(mu_);
  std::vector<std::shared_ptr<const T>> out;
  out.reserve(cache_.size());
  for (const auto& [key, entry] : cache_) out.push_back(entry.object);
  return out;
}

template <typename T>
const std::set<std::string>* Informer<T>::IndexedLocked(const std::string& name,
                                                        const std::string& value) const {
  if (!indices_.Has(name)) {
    log::Error("unknown informer index", {{"resource", options_.resource.plural},
                                          {"index", name}});
    return nullptr;
  }
  return indices_.Keys(name, value);
}

template <typename T>
std::vector<std::shared_ptr<const T>> Informer<T>::ByIndex(const std::string& name,
                                                           const std::string& value) const {
  std::lock_guard lock(mu_);
  std::vector<std::shared_ptr<const T>> out;
  if (const std::set<std::string>* keys = IndexedLocked(name, value)) {
    out.reserve(keys->size());
    for (const std::string& key : *keys) {
      if (auto it = cache_.find(key); it != cache_.end()) out.push_back(it->second.object);
    }
  }
  return out;
}

template <typename T>
std::vector<std::string> Informer<T>::IndexKeys(const std::string& name,
                                                const std::string& value) const {
  std::lock_guard lock(mu_);
  const std::set<std::string>* keys = IndexedLocked(name, value);
  return keys ? std::vector<std::string>(keys->begin(), keys->end()) : std::vector<std::string>{};
}

template <typename T>
size_t Informer<T>::IndexCount(const std::string& name, const std::string& value) const {
  std::lock_guard lock(mu_);
  const std::set<std::string>* keys = IndexedLocked(name, value);
  return keys ? keys->size() : 0;
}

template <typename T>
auto Informer<T>::DecodeEntry(const std::string& key, const kube::json& object) const
    -> std::optional<Entry> {
  if (key.empty()) {
    log::Warn("object without a name skipped", {{"resource", options_.resource.plural}});
    return std::nullopt;
  }
  absl::StatusOr<T> decoded = decode_(object);
  if (!decoded.ok()) {
    log::Warn("object skipped: cannot decode", {{"resource", options_.resource.plural},
                                                {"key", key},
                                                {"error", decoded.status().ToString()}});
    return std::nullopt;
  }
  return Entry{std::make_shared<const T>(*std::move(decoded)), kube::ResourceVersionOf(object)};
}

template <typename T>
void Informer<T>::Replace(const std::string& ns, std::map<std::string, Entry> items) {
  std::vector<Change> changes;
  {
    std::lock_guard lock(mu_);
    // This namespace's part of the cache: every key for "", else the keys "ns/...".
    const std::string prefix = ns.empty() ? "" : ns + "/";
    auto it = cache_.lower_bound(prefix);
    while (it != cache_.end() && it->first.compare(0, prefix.size(), prefix) == 0) {
      if (!items.contains(it->first)) {
        indices_.Update(it->first, it->second.object.get(), nullptr);
        changes.push_back({it->first, std::move(it->second.object), nullptr});
        it = cache_.erase(it);
      } else {
        ++it;
      }
    }
    for (auto& [key, entry] : items) {
      auto [pos, inserted] = cache_.try_emplace(key, entry);
      if (inserted) {
        indices_.Update(key, nullptr, entry.object.get());
        changes.push_back({key, nullptr, entry.object});
      } else if (entry.resource_version.empty() ||
                 pos->second.resource_version != entry.resource_version) {
        indices_.Update(key, pos->second.object.get(), entry.object.get());
        changes.push_back({key, std::move(pos->second.object), entry.object});
        pos->second = std::move(entry);
      }
    }
  }
  Notify(changes);
}

template <typename T>
void Informer<T>::Upsert(const kube::json& object) {
  std::string key = KeyOf(object);
  std::optional<Entry> entry = DecodeEntry(key, object);
  if (!entry) {
    if (!key.empty()) Remove(key);  // undecodable objects are not in the cache
    return;
  }
  Change change{key, nullptr, entry->object};
  {
    std::lock_guard lock(mu_);
    Entry& slot = cache_[key];
    indices_.Update(key, slot.object.get(), entry->object.get());
    change.old_obj = std::move(slot.object);
    slot = std::move(*entry);
  }
  Notify({change});
}

template <typename T>
void Informer<T>::Remove(const std::string& key) {
  std::shared_ptr<const T> old;
  {
    std::lock_guard lock(mu_);
    auto it = cache_.find(key);
    if (it == cache_.end()) return;  // never cached: nothing to announce
    old = std::move(it->second.object);
    indices_.Update(key, old.get(), nullptr);
    cache_.erase(it);
  }
  Notify({{key, std::move(old), nullptr}});
}

template <typename T>
void Informer<T>::Notify(const std::vector<Change>& changes) const {
  for (const Change& c : changes) {
    for (const auto& handler : handlers_) handler(c.key, c.old_obj.get(), c.new_obj.get());
  }
}

}  // namespace coderun::informer
