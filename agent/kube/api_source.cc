#include "agent/kube/api_source.h"

#include "absl/strings/str_cat.h"

namespace warden::kube {

absl::StatusOr<std::unique_ptr<ApiSource>> ApiSource::Start(const ApiServerConfig& cfg,
                                                            ApiSourceOptions opts) {
  std::unique_ptr<ApiSource> s(new ApiSource());
  for (const Resource& r : WatchedResources()) {
    auto client = ApiClient::Create(cfg, opts.timeouts);
    if (!client.ok()) return client.status();
    s->reflectors_.push_back(
        std::make_unique<Reflector>(r, std::move(*client), &s->cache_, opts.reflector));
  }
  for (auto& r : s->reflectors_) r->Start();
  return s;
}

ApiSource::~ApiSource() { Stop(); }

void ApiSource::Stop() {
  cache_.Wake();
  for (auto& r : reflectors_) r->Stop();
}

bool ApiSource::Changed() { return !loaded_ || cache_.changes() != loaded_changes_; }

policy::LoadResult ApiSource::Load() {
  loaded_changes_ = cache_.changes();  // before reading: a change meanwhile loads again
  loaded_ = true;
  return policy::LoadKeepingLastGood(cache_.All(), {}, &last_good_, &parse_);
}

void ApiSource::WaitChange(std::chrono::steady_clock::time_point deadline) {
  cache_.WaitChange(loaded_changes_, deadline);
}

std::string ApiSource::RenderMetrics() const {
  struct Counter {
    const char* name;
    const char* help;
    std::atomic<uint64_t> ReflectorStats::*field;
  };
  static const Counter kCounters[] = {
      {"warden_kube_lists_total", "Lists of a kind (first sync, 410 Gone, an untrusted answer).",
       &ReflectorStats::lists},
      {"warden_kube_watches_total", "Watch streams opened.", &ReflectorStats::watches},
      {"warden_kube_events_total", "Watch events received.", &ReflectorStats::events},
      {"warden_kube_gone_total", "Watches answered 410 Gone (listed again).",
       &ReflectorStats::gone},
      {"warden_kube_errors_total", "Failed calls (retried after a backoff).",
       &ReflectorStats::errors},
      {"warden_kube_malformed_total", "Answers or events that could not be read (listed again).",
       &ReflectorStats::malformed},
  };
  std::string out;
  for (const Counter& c : kCounters) {
    absl::StrAppend(&out, "# HELP ", c.name, " ", c.help, "\n# TYPE ", c.name, " counter\n");
    for (const auto& r : reflectors_)
      absl::StrAppend(&out, c.name, "{kind=\"", r->resource().kind, "\"} ",
                      (r->stats().*c.field).load(), "\n");
  }
  absl::StrAppend(&out,
                  "# HELP warden_kube_synced Whether the kind has been listed.\n"
                  "# TYPE warden_kube_synced gauge\n");
  for (const auto& r : reflectors_)
    absl::StrAppend(&out, "warden_kube_synced{kind=\"", r->resource().kind, "\"} ",
                    r->stats().synced.load() ? 1 : 0, "\n");
  return out;
}

}  // namespace warden::kube
