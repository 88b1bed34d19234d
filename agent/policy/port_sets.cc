#include "agent/policy/port_sets.h"

#include <algorithm>
#include <cstring>
#include <functional>

#include "absl/container/flat_hash_set.h"
#include "absl/strings/str_cat.h"

namespace warden::policy {

std::vector<PortRange> NormalizeRanges(std::vector<PortRange> r) {
  std::sort(r.begin(), r.end());
  std::vector<PortRange> out;
  for (const auto& x : r) {
    if (!out.empty() &&
        static_cast<uint32_t>(x.first) <= static_cast<uint32_t>(out.back().second) + 1) {
      out.back().second = std::max(out.back().second, x.second);
    } else {
      out.push_back(x);
    }
  }
  return out;
}

PortSetTable::PortSetTable() {
  // WD_PORTSET_EMPTY and WD_PORTSET_ALL: the first two ids of an empty table.
  sets_ = {{}, {{0, 65535}}};
  ids_.emplace(sets_[WD_PORTSET_EMPTY], WD_PORTSET_EMPTY);
  ids_.emplace(sets_[WD_PORTSET_ALL], WD_PORTSET_ALL);
}

absl::StatusOr<uint16_t> PortSetTable::Intern(std::vector<PortRange> ranges) {
  ranges = NormalizeRanges(std::move(ranges));
  auto it = ids_.find(ranges);
  if (it != ids_.end()) return it->second;
  if (free_.empty() && sets_.size() >= kMaxSets) {
    return absl::ResourceExhaustedError(
        absl::StrCat("more than ", kMaxSets, " distinct port sets (ids are 16 bits)"));
  }
  uint16_t id;
  if (!free_.empty()) {
    id = free_.back();  // the lowest free id
    free_.pop_back();
    sets_[id] = ranges;
  } else {
    id = static_cast<uint16_t>(sets_.size());
    sets_.push_back(ranges);
  }
  ids_.emplace(std::move(ranges), id);
  return id;
}

void PortSetTable::Free(const std::vector<uint16_t>& ids) {
  absl::flat_hash_set<uint16_t> gone;
  for (uint16_t id : ids) {
    if (id == WD_PORTSET_EMPTY || id == WD_PORTSET_ALL || id >= sets_.size()) continue;
    auto it = ids_.find(sets_[id]);
    if (it == ids_.end() || it->second != id) continue;  // already free
    ids_.erase(it);
    gone.insert(id);
  }
  if (gone.empty()) return;
  absl::erase_if(unions_, [&](const auto& u) {
    return gone.contains(static_cast<uint16_t>(u.first >> 16)) ||
           gone.contains(static_cast<uint16_t>(u.first & 0xffff)) || gone.contains(u.second);
  });
  free_.insert(free_.end(), gone.begin(), gone.end());
  std::sort(free_.begin(), free_.end(), std::greater<uint16_t>());
}

absl::StatusOr<uint16_t> PortSetTable::Union(uint16_t a, uint16_t b) {
  if (a == b || b == WD_PORTSET_EMPTY) return a;
  if (a == WD_PORTSET_EMPTY) return b;
  if (a == WD_PORTSET_ALL || b == WD_PORTSET_ALL) return WD_PORTSET_ALL;
  if (a > b) std::swap(a, b);
  uint32_t key = (static_cast<uint32_t>(a) << 16) | b;
  auto it = unions_.find(key);
  if (it != unions_.end()) return it->second;
  std::vector<PortRange> all = sets_[a];
  all.insert(all.end(), sets_[b].begin(), sets_[b].end());
  absl::StatusOr<uint16_t> id = Intern(std::move(all));
  if (id.ok()) unions_.emplace(key, *id);
  return id;
}

void AppendKernelPortset(const std::vector<PortRange>& ranges, KernelPortsets* k) {
  std::vector<PortRange> r = NormalizeRanges(ranges);
  wd_portset set;
  std::memset(&set, 0, sizeof(set));
  set.count = static_cast<uint32_t>(r.size());
  if (r.size() <= WD_PORTSET_INLINE) {
    for (size_t i = 0; i < r.size(); ++i) set.ranges[i] = {r[i].first, r[i].second};
  } else {
    set.first = static_cast<uint32_t>(k->ranges.size());
    for (const auto& [lo, hi] : r) k->ranges.push_back({lo, hi});
  }
  k->sets.push_back(set);
}

std::vector<PortRange> KernelPortsetRanges(const wd_portset& set,
                                           const std::vector<wd_port_range>& ranges) {
  std::vector<PortRange> out;
  if (set.count <= WD_PORTSET_INLINE) {
    for (uint32_t i = 0; i < set.count; ++i) out.push_back({set.ranges[i].lo, set.ranges[i].hi});
    return out;
  }
  if (static_cast<uint64_t>(set.first) + set.count > ranges.size()) return out;
  for (uint32_t i = 0; i < set.count; ++i)
    out.push_back({ranges[set.first + i].lo, ranges[set.first + i].hi});
  return out;
}

bool KernelPortsetHas(const wd_portset& set, const std::vector<wd_port_range>& ranges,
                      uint16_t port) {
  auto in = [port](const wd_port_range& r) { return r.lo <= port && port <= r.hi; };
  if (set.count <= WD_PORTSET_INLINE) {
    return (set.count > 0 && in(set.ranges[0])) || (set.count > 1 && in(set.ranges[1]));
  }
  uint32_t lo = set.first, hi = set.first + set.count;
  for (int i = 0; i < WD_PORTSET_SEARCH_STEPS && hi - lo > 1; ++i) {
    uint32_t mid = lo + (hi - lo) / 2;
    if (mid >= ranges.size()) return false;  // the kernel's lookup misses: not allowed
    if (ranges[mid].lo <= port)
      lo = mid;
    else
      hi = mid;
  }
  return lo < ranges.size() && in(ranges[lo]);
}

}  // namespace warden::policy
