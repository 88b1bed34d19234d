#include "agent/datapath/table_capacity.h"

#include <algorithm>

#include "absl/strings/str_cat.h"

namespace warden::datapath {

Capacity NeedsOf(const NodeTables& t) {
  Capacity n;
  n.endpoints = static_cast<uint32_t>(t.endpoints.size());
  for (const auto& [k, v] : t.ipcache) ++(IsHostPrefix(k.v) ? n.iphost : n.ipcache);
  n.policy = static_cast<uint32_t>(t.policy.size());
  n.portsets = static_cast<uint32_t>(std::min<size_t>(t.portsets.size(), UINT32_MAX));
  n.portranges = static_cast<uint32_t>(std::min<size_t>(t.portranges.size(), UINT32_MAX));
  n.lockdown = static_cast<uint32_t>(t.lockdown.size());
  n.ifaces = static_cast<uint32_t>(t.ifaces.size());
  return n;
}

absl::Status Fits(const Capacity& have, const Capacity& need) {
  for (const TableMap& m : kTableMaps) {
    if (need.*m.field > have.*m.field) {
      return absl::ResourceExhaustedError(absl::StrCat("map full: ", need.*m.field, " ", m.what,
                                                       " entries needed, room for ", have.*m.field,
                                                       " (", m.base, ")"));
    }
  }
  return absl::OkStatus();
}

absl::StatusOr<Capacity> Grown(const Capacity& have, const Capacity& need) {
  Capacity out = have;
  for (const TableMap& m : kTableMaps) {
    const uint64_t n = need.*m.field;
    if (n <= have.*m.field) continue;
    if (n > m.limit) {
      return absl::ResourceExhaustedError(absl::StrCat(
          n, " ", m.what, " entries needed, more than ", m.base, " may hold (", m.limit, ")"));
    }
    uint64_t size = 1;
    while (size < 2 * n) size <<= 1;
    out.*m.field = static_cast<uint32_t>(std::min<uint64_t>(size, m.limit));
  }
  return out;
}

std::string CapacityChanges(const Capacity& from, const Capacity& to) {
  std::string out;
  for (const TableMap& m : kTableMaps) {
    if (from.*m.field == to.*m.field) continue;
    absl::StrAppend(&out, out.empty() ? "" : ", ", m.base, " ", from.*m.field, " -> ", to.*m.field);
  }
  return out;
}

}  // namespace warden::datapath
