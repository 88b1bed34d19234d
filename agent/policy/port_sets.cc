#include "agent/policy/port_sets.h"

#include <algorithm>
#include <cstring>
#include <functional>

#include "absl/container/flat_hash_set.h"
#include "absl/strings/str_cat.h"

namespace warden::policy {

namespace {
std::vector<PortRange> Normalize(std::vector<PortRange> r) {
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
}  // namespace

PortSetTable::PortSetTable() {
  // WD_PORTSET_EMPTY and WD_PORTSET_ALL: the first two ids of an empty table.
  sets_ = {{}, {{0, 65535}}};
  ids_.emplace(sets_[WD_PORTSET_EMPTY], WD_PORTSET_EMPTY);
  ids_.emplace(sets_[WD_PORTSET_ALL], WD_PORTSET_ALL);
}

absl::StatusOr<uint16_t> PortSetTable::Intern(std::vector<PortRange> ranges) {
  ranges = Normalize(std::move(ranges));
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

void AddPortRange(wd_portset* set, uint16_t first, uint16_t last) {
  for (uint32_t p = first; p <= last;) {
    const uint32_t word = p / 64, bit = p % 64;
    const uint32_t n = std::min<uint32_t>(64 - bit, last - p + 1);  // bits in this word
    const uint64_t mask = n == 64 ? ~uint64_t{0} : ((uint64_t{1} << n) - 1) << bit;
    set->bits[word] |= mask;
    p += n;
  }
}

wd_portset PortsetBitmap(const std::vector<PortRange>& ranges) {
  wd_portset set;
  std::memset(&set, 0, sizeof(set));
  for (const auto& [first, last] : ranges) AddPortRange(&set, first, last);
  return set;
}

std::vector<PortRange> PortsetRanges(const wd_portset& set) {
  std::vector<PortRange> out;
  int start = -1;
  for (int p = 0; p <= 65536; ++p) {
    const bool on = p < 65536 && PortsetHas(set, static_cast<uint16_t>(p));
    if (on && start < 0) start = p;
    if (!on && start >= 0) {
      out.push_back({static_cast<uint16_t>(start), static_cast<uint16_t>(p - 1)});
      start = -1;
    }
  }
  return out;
}

}  // namespace warden::policy
