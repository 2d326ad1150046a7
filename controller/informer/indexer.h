// Secondary indices over a keyed cache (the shape of client-go's Indexer): named index
// functions file each object under zero or more values, and a lookup by (index, value)
// returns the keys filed there. Informer<T> keeps one, updated on every add, update, delete
// and relist, under its cache mutex.
#pragma once

#include <functional>
#include <map>
#include <set>
#include <string>
#include <utility>
#include <vector>

namespace coderun::informer {

// The values `object` is filed under in one index (client-go's IndexFunc). May be empty
// (the object is not in that index) or hold several values. Must be a pure function of the
// object: it is called again with the same object to remove it.
template <typename T>
using IndexFunc = std::function<std::vector<std::string>(const T& object)>;

// Not thread-safe: the owner guards it (Informer<T> with its cache mutex).
template <typename T>
class Indices {
 public:
  // Registers an index; false (and no change) if `name` is taken or `fn` is empty. Objects
  // already recorded are not filed retroactively: add every index before the first Update.
  bool Add(const std::string& name, IndexFunc<T> fn) {
    if (!fn || funcs_.contains(name)) return false;
    funcs_.emplace(name, std::move(fn));
    buckets_[name];
    return true;
  }
  bool Has(const std::string& name) const { return funcs_.contains(name); }

  // Files `key` under the values of `new_obj` and takes it out of those of `old_obj`
  // (either may be null: an add has no old object, a delete no new one).
  void Update(const std::string& key, const T* old_obj, const T* new_obj) {
    for (const auto& [name, fn] : funcs_) {
      auto& buckets = buckets_[name];
      if (old_obj) {
        for (const std::string& value : fn(*old_obj)) {
          auto it = buckets.find(value);
          if (it == buckets.end()) continue;
          it->second.erase(key);
          if (it->second.empty()) buckets.erase(it);
        }
      }
      if (new_obj) {
        for (std::string& value : fn(*new_obj)) buckets[std::move(value)].insert(key);
      }
    }
  }

  // Keys filed under `value` in index `name`, in key order; null when there are none (or
  // no such index).
  const std::set<std::string>* Keys(const std::string& name, const std::string& value) const {
    auto index = buckets_.find(name);
    if (index == buckets_.end()) return nullptr;
    auto it = index->second.find(value);
    return it == index->second.end() ? nullptr : &it->second;
  }

  // The values of index `name` that hold at least one key (for tests and debugging).
  std::vector<std::string> Values(const std::string& name) const {
    std::vector<std::string> out;
    if (auto index = buckets_.find(name); index != buckets_.end()) {
      for (const auto& [value, keys] : index->second) out.push_back(value);
    }
    return out;
  }

 private:
  std::map<std::string, IndexFunc<T>> funcs_;
  // index name -> value -> keys; a value with no keys is erased.
  std::map<std::string, std::map<std::string, std::set<std::string>>> buckets_;
};

}  // namespace coderun::informer
