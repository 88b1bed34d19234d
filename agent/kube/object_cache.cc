#include "agent/kube/object_cache.h"

#include <algorithm>

namespace warden::kube {

void ObjectCache::Expect(const std::string& kind) {
  std::lock_guard<std::mutex> l(mu_);
  kinds_[kind];
}

void ObjectCache::Replace(const std::string& kind, std::map<std::string, policy::Text> objects) {
  std::map<std::string, policy::Text> old;  // freed outside the lock
  {
    std::lock_guard<std::mutex> l(mu_);
    Kind& k = kinds_[kind];
    old.swap(k.objects);
    k.objects = std::move(objects);
    k.synced = true;
    ++changes_;
  }
  cv_.notify_all();
}

void ObjectCache::Put(const std::string& kind, const std::string& path, policy::Text text) {
  {
    std::lock_guard<std::mutex> l(mu_);
    Kind& k = kinds_[kind];
    if (text) {
      auto [it, added] = k.objects.try_emplace(path, text);
      if (!added) {
        if (*it->second == *text) return;  // a resync or a status-only change we dropped
        it->second = std::move(text);
      }
    } else if (k.objects.erase(path) == 0) {
      return;
    }
    ++changes_;
  }
  cv_.notify_all();
}

policy::Texts ObjectCache::All() const {
  policy::Texts out;
  std::lock_guard<std::mutex> l(mu_);
  size_t n = 0;
  for (const auto& [_, k] : kinds_) n += k.objects.size();
  out.reserve(n);
  for (const auto& [_, k] : kinds_)
    for (const auto& [path, text] : k.objects) out.emplace_back(path, text);
  std::sort(out.begin(), out.end(), [](const auto& a, const auto& b) { return a.first < b.first; });
  return out;
}

std::vector<std::string> ObjectCache::Unsynced() const {
  std::vector<std::string> out;
  std::lock_guard<std::mutex> l(mu_);
  for (const auto& [name, k] : kinds_)
    if (!k.synced) out.push_back(name);
  return out;
}

uint64_t ObjectCache::changes() const {
  std::lock_guard<std::mutex> l(mu_);
  return changes_;
}

uint64_t ObjectCache::WaitChange(uint64_t seen, std::chrono::steady_clock::time_point deadline) {
  std::unique_lock<std::mutex> l(mu_);
  cv_.wait_until(l, deadline, [&] { return changes_ != seen || woken_; });
  return changes_;
}

void ObjectCache::Wake() {
  {
    std::lock_guard<std::mutex> l(mu_);
    woken_ = true;
  }
  cv_.notify_all();
}

}  // namespace warden::kube
