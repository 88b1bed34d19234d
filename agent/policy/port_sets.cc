#include "agent/policy/port_sets.h"

#include <algorithm>
#include <cstdlib>
#include <cstring>
#include <functional>

#include "absl/container/flat_hash_set.h"

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
  Intern({});            // WD_PORTSET_EMPTY
  Intern({{0, 65535}});  // WD_PORTSET_ALL
}

uint16_t PortSetTable::Intern(std::vector<PortRange> ranges) {
  ranges = Normalize(std::move(ranges));
  auto it = ids_.find(ranges);
  if (it != ids_.end()) return it->second;
  if (sets_.size() >= 0xffff) {
    // Unreachable in practice (each set is a distinct union of policy ports); never wrap ids.
    std::abort();
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

uint16_t PortSetTable::Union(uint16_t a, uint16_t b) {
  if (a == b || b == WD_PORTSET_EMPTY) return a;
  if (a == WD_PORTSET_EMPTY) return b;
  if (a == WD_PORTSET_ALL || b == WD_PORTSET_ALL) return WD_PORTSET_ALL;
  if (a > b) std::swap(a, b);
  uint32_t key = (static_cast<uint32_t>(a) << 16) | b;
  auto it = unions_.find(key);
  if (it != unions_.end()) return it->second;
  std::vector<PortRange> all = sets_[a];
  all.insert(all.end(), sets_[b].begin(), sets_[b].end());
  uint16_t id = Intern(std::move(all));
  unions_.emplace(key, id);
  return id;
}

std::vector<wd_portset> PortSetTable::Bitmaps() const {
  std::vector<wd_portset> out(sets_.size());
  for (size_t i = 0; i < sets_.size(); ++i) {
    std::memset(&out[i], 0, sizeof(wd_portset));
    for (const auto& [lo, hi] : sets_[i]) {
      for (uint32_t p = lo; p <= hi; ++p) out[i].bits[p / 64] |= uint64_t{1} << (p % 64);
    }
  }
  return out;
}

}  // namespace warden::policy
