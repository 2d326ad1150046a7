#include "informer/reflector.h"

#include <algorithm>
#include <utility>

#include "common/log.h"
#include "kube/errors.h"
#include "kube/object.h"

namespace coderun::informer {
namespace {

using std::chrono::milliseconds;
using std::chrono::nanoseconds;

// A watch that ends "normally" sooner than this without delivering anything is treated
// like a failure (backoff), so a proxy that closes streams at once cannot cause a hot loop.
constexpr auto kMinHealthyWatch = std::chrono::seconds(1);
// Longest real-time wait in SleepFor before re-reading the Clock (matters for fake clocks).
constexpr auto kClockRecheck = milliseconds(100);
constexpr size_t kExcerptBytes = 200;

std::string StringField(const kube::json& object, const char* section, const char* field) {
  auto s = object.find(section);
  if (s == object.end() || !s->is_object()) return "";
  auto f = s->find(field);
  return f != s->end() && f->is_string() ? f->get<std::string>() : "";
}

std::string Excerpt(std::string_view text) {
  if (text.size() <= kExcerptBytes) return std::string(text);
  return std::string(text.substr(0, kExcerptBytes)) + "...";
}

std::string Millis(nanoseconds d) {
  return std::to_string(std::chrono::duration_cast<milliseconds>(d).count());
}

}  // namespace

Reflector::Reflector(kube::Client& client, ReflectorOptions options, ReflectorSink& sink,
                     Clock& clock, InformerStats& stats)
    : client_(client),
      options_(std::move(options)),
      sink_(sink),
      clock_(clock),
      stats_(stats),
      backoff_(options_.backoff_initial, options_.backoff_max, /*jitter=*/0.2),
      rng_(std::random_device{}()) {}

Reflector::~Reflector() {
  RequestStop();
  Join();
}

void Reflector::Start() {
  if (!thread_.joinable()) thread_ = std::thread([this] { Run(); });
}

void Reflector::RequestStop() {
  {
    std::lock_guard lock(mu_);
    stopping_.store(true);
    stop_cv_.notify_all();
  }
  cancel_.Cancel();
}

void Reflector::Join() {
  if (thread_.joinable()) thread_.join();
}

std::string Reflector::LastResourceVersion() const {
  std::lock_guard lock(mu_);
  return resource_version_;
}

bool Reflector::SleepFor(nanoseconds d) {
  const SteadyTime deadline = clock_.Now() + d;
  std::unique_lock lock(mu_);
  while (!stopping()) {
    const SteadyTime now = clock_.Now();
    if (now >= deadline) return true;
    stop_cv_.wait_for(lock, std::min<nanoseconds>(deadline - now, kClockRecheck));
  }
  return false;
}

absl::Status Reflector::ListAll() {
  kube::ListOptions list_options;
  list_options.label_selector = options_.label_selector;
  list_options.limit = std::max(options_.page_size, 0);
  for (int attempt = 0;; ++attempt) {
    sink_.ListBegin();
    list_options.continue_token.clear();
    std::string resource_version;
    bool expired = false;
    while (true) {
      if (stopping()) {
        sink_.ListAbort();
        return absl::CancelledError("stopping");
      }
      absl::StatusOr<kube::json> page =
          client_.List(cancel_.context(), options_.resource, options_.ns, list_options, options_.drop_keys);
      if (!page.ok()) {
        if (!list_options.continue_token.empty() && kube::IsGone(page.status())) {
          expired = true;
          break;
        }
        sink_.ListAbort();
        return page.status();
      }
      if (!page->is_object()) {
        sink_.ListAbort();
        return absl::InvalidArgumentError("list response is not an object");
      }
      auto items = page->find("items");
      if (items != page->end() && items->is_array()) {
        for (auto& item : *items) {
          if (item.is_object()) sink_.ListItem(std::move(item));
        }
      }
      resource_version = kube::ResourceVersionOf(*page);
      list_options.continue_token = StringField(*page, "metadata", "continue");
      if (list_options.continue_token.empty()) break;
    }
    if (expired) {
      // The snapshot behind the continue token was compacted away. Start over; if that
      // happens again, list in one piece (as client-go's pager does).
      sink_.ListAbort();
      log::Info("list continue token expired; restarting list",
                {{"resource", options_.resource.plural}, {"namespace", options_.ns}});
      if (attempt >= 1) list_options.limit = 0;
      continue;
    }
    if (resource_version.empty()) {
      sink_.ListAbort();
      return absl::InvalidArgumentError("list response has no metadata.resourceVersion");
    }
    sink_.ListEnd();
    {
      std::lock_guard lock(mu_);
      resource_version_ = std::move(resource_version);
    }
    synced_.store(true);
    return absl::OkStatus();
  }
}

Reflector::WatchEnd Reflector::WatchOnce(std::string* detail) {
  kube::WatchOptions watch_options;
  watch_options.label_selector = options_.label_selector;
  watch_options.resource_version = LastResourceVersion();
  watch_options.allow_bookmarks = true;
  const int timeout = std::max(options_.watch_timeout_seconds, 1);
  watch_options.timeout_seconds =
      timeout + std::uniform_int_distribution<int>(0, timeout / 4)(rng_);

  WatchEnd from_event = WatchEnd::kNormal;
  long events = 0;
  auto set_rv = [this](std::string rv) {
    if (rv.empty()) return;
    std::lock_guard lock(mu_);
    resource_version_ = std::move(rv);
  };
  auto on_event = [&](kube::WatchEvent&& event) -> bool {
    if (stopping()) return false;
    if (event.type == "ADDED" || event.type == "MODIFIED" || event.type == "DELETED") {
      std::string rv = kube::ResourceVersionOf(event.object);
      if (event.type == "DELETED") {
        sink_.Remove(std::move(event.object));
      } else {
        sink_.Upsert(std::move(event.object));
      }
      set_rv(std::move(rv));
      ++events;
      return true;
    }
    if (event.type == "BOOKMARK") {
      set_rv(kube::ResourceVersionOf(event.object));
      ++events;
      return true;
    }
    from_event = WatchEnd::kBadEvent;
    *detail = "unknown event type " + Excerpt(event.type);
    return false;
  };

  const SteadyTime started = clock_.Now();
  absl::Status status =
      client_.Watch(cancel_.context(), options_.resource, options_.ns, watch_options, on_event, options_.drop_keys);
  // Only a watch that worked for a while resets the backoff (not a successful list: a
  // list that succeeds followed by a watch that fails at once must still slow down).
  last_watch_healthy_ = events > 0 || clock_.Now() - started >= kMinHealthyWatch;
  if (last_watch_healthy_) backoff_.Reset();
  if (stopping()) return WatchEnd::kStopped;
  if (from_event != WatchEnd::kNormal) return from_event;
  if (status.ok()) return last_watch_healthy_ ? WatchEnd::kNormal : WatchEnd::kEmpty;
  *detail = Excerpt(status.ToString());
  if (kube::IsGone(status)) return WatchEnd::kGone;
  // An undecodable line, not an API error that maps to the same code (400, 422).
  if (status.code() == absl::StatusCode::kInvalidArgument && kube::HttpCode(status) == 0) {
    return WatchEnd::kBadEvent;
  }
  return WatchEnd::kError;
}

void Reflector::Run() {
  const std::string& plural = options_.resource.plural;
  const std::string& ns = options_.ns;
  bool need_list = true;
  while (!stopping()) {
    if (need_list) {
      absl::Status status = ListAll();
      if (stopping()) break;
      if (!status.ok()) {
        ++stats_.list_errors;
        nanoseconds wait = NextBackoff();
        log::Warn("list failed", {{"resource", plural}, {"namespace", ns},
                                  {"error", Excerpt(status.ToString())},
                                  {"retry_in_ms", Millis(wait)}});
        if (!SleepFor(wait)) break;
        continue;
      }
      need_list = false;
    }
    std::string detail;
    switch (WatchOnce(&detail)) {
      case WatchEnd::kStopped:
        return;
      case WatchEnd::kNormal:
        ++stats_.watch_restarts;
        break;
      case WatchEnd::kEmpty:
        ++stats_.watch_restarts;
        if (!SleepFor(NextBackoff())) return;
        break;
      case WatchEnd::kGone:
        ++stats_.relists_gone;
        log::Info("relist", {{"resource", plural}, {"namespace", ns}, {"reason", "Gone"}});
        need_list = true;
        // A watch refused right after a list: do not spin list/watch against the server.
        if (!last_watch_healthy_ && !SleepFor(NextBackoff())) return;
        break;
      case WatchEnd::kBadEvent: {
        ++stats_.relists_error;
        nanoseconds wait = NextBackoff();
        log::Warn("relist", {{"resource", plural}, {"namespace", ns}, {"reason", "BadEvent"},
                             {"excerpt", detail}, {"retry_in_ms", Millis(wait)}});
        need_list = true;
        if (!SleepFor(wait)) return;
        break;
      }
      case WatchEnd::kError: {
        ++stats_.watch_errors;
        ++stats_.watch_restarts;
        nanoseconds wait = NextBackoff();
        log::Warn("watch failed", {{"resource", plural}, {"namespace", ns}, {"error", detail},
                                   {"retry_in_ms", Millis(wait)}});
        if (!SleepFor(wait)) return;
        break;
      }
    }
  }
}

}  // namespace coderun::informer
