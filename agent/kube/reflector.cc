#include "agent/kube/reflector.h"

#include "absl/strings/str_cat.h"
#include "agent/kube/api_objects.h"

namespace warden::kube {

namespace {

using Clock = std::chrono::steady_clock;

// Percent-encodes what is not unreserved (resourceVersions and continue tokens are opaque).
std::string QueryValue(const std::string& v) {
  std::string out;
  for (unsigned char c : v) {
    if (std::isalnum(c) || c == '-' || c == '_' || c == '.' || c == '~') {
      out += static_cast<char>(c);
    } else {
      absl::StrAppend(&out, "%", absl::Hex(c, absl::kZeroPad2));
    }
  }
  return out;
}

}  // namespace

Reflector::Reflector(Resource resource, std::unique_ptr<ApiClient> client, ObjectCache* cache,
                     ReflectorOptions opts)
    : resource_(std::move(resource)),
      client_(std::move(client)),
      cache_(cache),
      opts_(opts),
      log_("warden control: " + resource_.plural),
      gv_(resource_.group_versions.front()),
      try_watch_list_(opts.watch_list) {
  cache_->Expect(resource_.kind);
}

Reflector::~Reflector() { Stop(); }

void Reflector::Start() {
  thread_ = std::thread([this] { Loop(); });
}

void Reflector::Stop() {
  stop_ = true;
  client_->Stop();
  { std::lock_guard<std::mutex> l(sleep_mu_); }
  sleep_cv_.notify_all();
  if (thread_.joinable()) thread_.join();
}

void Reflector::Sleep(std::chrono::milliseconds d) {
  std::unique_lock<std::mutex> l(sleep_mu_);
  sleep_cv_.wait_for(l, d, [&] { return stop_.load(); });
}

std::chrono::milliseconds Reflector::NextBackoff() {
  backoff_ = backoff_.count() == 0 ? opts_.backoff_min : std::min(backoff_ * 2, opts_.backoff_max);
  // Jitter over the upper half: many agents' control planes must not retry in step.
  std::uniform_int_distribution<int64_t> d(backoff_.count() / 2, backoff_.count());
  return std::chrono::milliseconds(d(rng_));
}

void Reflector::Loop() {
  bool need_list = true;
  while (!stop_) {
    absl::Status st;
    Next next = Next::kWatch;
    if (need_list && try_watch_list_) {
      next = WatchList();
      // Once its initial events are in, the stream was a list: what follows watches on.
      if (watch_listed_) need_list = false;
    } else if (need_list) {
      st = List();
      if (st.ok() && !stats_.served) {
        Sleep(opts_.absent_retry);
        continue;
      }
      next = st.ok() ? Next::kWatch : Next::kBackOff;
    } else {
      next = Watch();
    }
    if (stop_) break;
    if (next == Next::kList) {
      need_list = true;
    } else if (next == Next::kBackOff || next == Next::kBackOffThenList) {
      ++stats_.errors;
      if (!st.ok()) log_.Warning(st.message());
      Sleep(NextBackoff());
      if (next == Next::kBackOffThenList) need_list = true;
    } else {
      need_list = false;
      if (stats_.synced) backoff_ = std::chrono::milliseconds(0);
    }
    if (next == Next::kWatch && !stats_.synced) need_list = true;
  }
}

absl::Status Reflector::List() {
  ++stats_.lists;
  for (size_t g = 0; g < resource_.group_versions.size(); ++g) {
    const std::string& gv = resource_.group_versions[g];
    std::map<std::string, policy::Text> objects;
    std::string cont, rv;
    for (int page = 0;; ++page) {
      std::string target = absl::StrCat(CollectionPath(resource_, gv), "?limit=", opts_.page_size);
      if (!cont.empty()) absl::StrAppend(&target, "&continue=", QueryValue(cont));
      auto r = client_->Get(target);
      if (!r.ok()) return r.status();
      if (r->status == 404 && page == 0) break;  // not served at this group version
      if (r->status == 410 && page > 0) {
        // The continue token expired: the list starts again.
        objects.clear();
        cont.clear();
        page = -1;
        continue;
      }
      if (r->status != 200)
        return absl::UnavailableError(absl::StrCat("listing ", resource_.kind, "s: ", r->status,
                                                   " ", DescribeErrorBody(r->body)));
      auto p = ParseListPage(resource_, gv, r->body);
      if (!p.ok()) {
        ++stats_.malformed;
        return absl::DataLossError(
            absl::StrCat("listing ", resource_.kind, "s at ", gv, ": ", p.status().message()));
      }
      for (auto& o : p->objects)
        if (o.text) objects[o.path] = std::move(o.text);
      rv = p->resource_version;
      cont = p->continue_token;
      if (cont.empty()) break;
    }
    if (rv.empty()) continue;  // 404: try the next group version
    gv_ = gv;
    rv_ = rv;
    if (!stats_.served || !stats_.synced)
      log_.Info("listed ", objects.size(), " at ", gv, " (resourceVersion ", rv, ")");
    stats_.served = true;
    cache_->Replace(resource_.kind, std::move(objects));
    stats_.synced = true;
    return absl::OkStatus();
  }
  // No group version is served: the CRD is not installed, so there is none of this kind.
  if (stats_.served || !stats_.synced)
    log_.Info("not served by the API server (CRD not installed): none, asking again every ",
              opts_.absent_retry.count() / 1000, " s");
  stats_.served = false;
  cache_->Replace(resource_.kind, {});
  stats_.synced = true;
  rv_.clear();
  return absl::OkStatus();
}

std::string Reflector::WatchTarget(bool watch_list) {
  std::uniform_int_distribution<int> jitter(0, opts_.watch_timeout_s / 4);
  std::string t = absl::StrCat(CollectionPath(resource_, gv_), "?watch=1&allowWatchBookmarks=true",
                               "&timeoutSeconds=", opts_.watch_timeout_s + jitter(rng_));
  if (watch_list) {
    absl::StrAppend(&t, "&sendInitialEvents=true&resourceVersionMatch=NotOlderThan");
  } else {
    absl::StrAppend(&t, "&resourceVersion=", QueryValue(rv_));
  }
  return t;
}

Reflector::Next Reflector::OnLine(std::string_view line,
                                  std::map<std::string, policy::Text>* initial, bool* stop,
                                  bool* initial_ended) {
  auto e = ParseWatchEvent(resource_, gv_, line);
  if (!e.ok()) {
    // A line we cannot read may have been a change we would miss: list again.
    ++stats_.malformed;
    log_.Warning("watch at resourceVersion ", rv_, ": ", e.status().message(), "; listing again");
    *stop = true;
    return Next::kBackOffThenList;
  }
  ++stats_.events;
  switch (e->type) {
    case WatchEvent::Type::kError:
      *stop = true;
      if (e->error_code == 410) {
        ++stats_.gone;
        log_.Info("resourceVersion ", rv_, " is too old (410 Gone): listing again");
        return Next::kList;
      }
      log_.Warning("watch ERROR event: ", e->error_message, "; listing again");
      return Next::kBackOffThenList;
    case WatchEvent::Type::kBookmark:
      ++stats_.bookmarks;
      rv_ = e->resource_version;
      if (initial && e->initial_events_end) {
        log_.Info("listed ", initial->size(), " by watch-list (resourceVersion ", rv_, ")");
        cache_->Replace(resource_.kind, std::move(*initial));
        initial->clear();
        stats_.synced = true;
        stats_.watch_list = true;
        *initial_ended = true;
        return Next::kWatch;
      }
      return Next::kWatch;
    default:
      break;
  }
  if (!e->resource_version.empty()) rv_ = e->resource_version;
  if (initial) {
    if (e->object.text) {
      (*initial)[e->object.path] = std::move(e->object.text);
    } else {
      initial->erase(e->object.path);
    }
  } else {
    cache_->Put(resource_.kind, e->object.path, std::move(e->object.text));
  }
  return Next::kWatch;
}

Reflector::Next Reflector::WatchList() {
  ++stats_.watches;
  std::map<std::string, policy::Text> initial;
  bool in_initial = true;
  watch_listed_ = false;
  Next next = Next::kWatch;
  auto r = client_->Stream(WatchTarget(true), [&](std::string_view line) {
    bool stop = false, ended = false;
    next = OnLine(line, in_initial ? &initial : nullptr, &stop, &ended);
    if (ended) in_initial = false, watch_listed_ = true;
    return !stop;
  });
  if (stop_) return Next::kWatch;
  if (!r.ok()) {
    log_.Warning(r.status().message());
    return Next::kBackOff;
  }
  if (next == Next::kBackOffThenList) return next;
  if (r->status != 200 || in_initial) {
    // The server does not offer a watch-list (an older one refuses resourceVersionMatch on a
    // watch; one that ignores it never ends the initial events): lists from now on.
    log_.Info("no watch-list (",
              r->status == 200 ? "no end of initial events" : DescribeErrorBody(r->body),
              "): listing instead");
    try_watch_list_ = false;
    return Next::kList;
  }
  return next;
}

Reflector::Next Reflector::Watch() {
  ++stats_.watches;
  auto started = Clock::now();
  size_t lines = 0;
  Next next = Next::kWatch;
  auto r = client_->Stream(WatchTarget(false), [&](std::string_view line) {
    ++lines;
    bool stop = false, ended = false;
    next = OnLine(line, nullptr, &stop, &ended);
    return !stop;
  });
  if (stop_) return Next::kWatch;
  if (!r.ok() && absl::IsDeadlineExceeded(r.status())) {
    // Quiet for longer than a server stays silent (it sends bookmarks): resume at once from
    // the last version seen. Not an error: a quiet kind may simply have had nothing to say.
    log_.Debug(r.status().message(), "; watching again from resourceVersion ", rv_);
    return Next::kWatch;
  }
  if (!r.ok()) {
    // Broken: resume from the last version seen after a backoff, the objects kept meanwhile.
    log_.Warning(r.status().message());
    return Next::kBackOff;
  }
  if (r->status == 410) {
    ++stats_.gone;
    log_.Info("resourceVersion ", rv_, " is too old (410 Gone): listing again");
    return Next::kList;
  }
  if (r->status != 200) {
    log_.Warning("watching from resourceVersion ", rv_, ": ", r->status, " ",
                 DescribeErrorBody(r->body));
    return Next::kBackOff;
  }
  // A stream that ends at once with nothing in it is not a reason to ask again at once.
  if (next == Next::kWatch && lines == 0 && Clock::now() - started < std::chrono::seconds(1))
    return Next::kBackOff;
  return next;
}

}  // namespace warden::kube
