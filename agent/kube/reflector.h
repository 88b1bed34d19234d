// One kind's list and watch, kept going for good: list (paged), then watch from the list's
// resourceVersion with bookmarks; a watch that ends or breaks is resumed from the last version
// seen, with the objects kept meanwhile; 410 Gone (or an ERROR event, or a line that cannot be
// trusted) lists again, and the new list replaces the objects in one step. Errors back off
// exponentially with jitter. Where the server offers it, the first sync is a watch-list (one
// stream whose initial events end with a bookmark) instead of a list.
#pragma once

#include <atomic>
#include <chrono>
#include <memory>
#include <random>
#include <string>
#include <thread>

#include "absl/status/status.h"
#include "agent/common/log.h"
#include "agent/kube/api_client.h"
#include "agent/kube/object_cache.h"
#include "agent/kube/resources.h"

namespace warden::kube {

struct ReflectorOptions {
  bool watch_list = true;  // try a watch-list first
  std::chrono::milliseconds backoff_min{500}, backoff_max{30000};
  // How long before a kind the server does not serve (a CRD not installed) is asked again.
  std::chrono::milliseconds absent_retry{60000};
  int page_size = 500;
  int watch_timeout_s = 300;  // asked of the server (timeoutSeconds), with up to 25% more jitter
};

struct ReflectorStats {
  std::atomic<uint64_t> lists{0}, watches{0}, events{0}, bookmarks{0}, gone{0}, errors{0},
      malformed{0};
  std::atomic<bool> synced{false}, served{true}, watch_list{false};
};

class Reflector {
 public:
  Reflector(Resource resource, std::unique_ptr<ApiClient> client, ObjectCache* cache,
            ReflectorOptions opts);
  ~Reflector();
  void Start();
  void Stop();
  const Resource& resource() const { return resource_; }
  const ReflectorStats& stats() const { return stats_; }

 private:
  // What to do after a call: watch on from rv_, list now, or wait and then watch (or list).
  enum class Next { kWatch, kList, kBackOff, kBackOffThenList };
  void Loop();
  // A full list into the cache; sets rv_ and gv_.
  absl::Status List();
  // A watch-list: the initial events into the cache, then watching on.
  Next WatchList();
  // A watch from rv_.
  Next Watch();
  // Applies one line of a watch; `initial` collects a watch-list's initial events.
  // `stop` ends the stream; `initial_ended` says the initial events were committed.
  Next OnLine(std::string_view line, std::map<std::string, policy::Text>* initial, bool* stop,
              bool* initial_ended);
  void Sleep(std::chrono::milliseconds d);
  std::chrono::milliseconds NextBackoff();
  std::string WatchTarget(bool watch_list);

  Resource resource_;
  std::unique_ptr<ApiClient> client_;
  ObjectCache* cache_;
  ReflectorOptions opts_;
  ReflectorStats stats_;
  common::Logger log_;
  std::string gv_;  // the group version the server serves this kind at
  std::string rv_;  // the last resourceVersion seen
  bool try_watch_list_;
  bool watch_listed_ = false;  // the last WatchList() committed its initial events
  std::chrono::milliseconds backoff_{0};
  std::mt19937_64 rng_{std::random_device{}()};
  std::atomic<bool> stop_{false};
  std::mutex sleep_mu_;
  std::condition_variable sleep_cv_;
  std::thread thread_;
};

}  // namespace warden::kube
