// How many entries each verdict table holds (per copy), what a set of tables needs, and how far
// a table grows when it does not fit. Arithmetic only: BpfDatapath sizes the maps with it.
#pragma once

#include <cstdint>
#include <string>

#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "agent/datapath/node_tables.h"
#include "warden_structs.h"

namespace warden::datapath {

struct Capacity {
  uint32_t endpoints = 0;   // wd_endpoints: local pods' cgroups
  uint32_t iphost = 0;      // wd_iphost: full-length ipcache entries (pod and node addresses)
  uint32_t ipcache = 0;     // wd_ipcache: shorter prefixes
  uint32_t policy = 0;      // wd_policy
  uint32_t portsets = 0;    // wd_portsets: set ids
  uint32_t portranges = 0;  // wd_portranges: the runs of the larger sets
  uint32_t lockdown = 0;    // wd_lockdown: node-pool allowances
  uint32_t ifaces = 0;      // wd_ifaces: local pods' interfaces
};

// Each table's maps (<base>_a, <base>_b), its field, what its entries are called in messages,
// and the most it may grow to (bpf/warden_consts.h, WD_*_LIMIT).
struct TableMap {
  const char* base;
  uint32_t Capacity::*field;
  const char* what;
  uint32_t limit;
};
inline constexpr TableMap kTableMaps[] = {
    {"wd_endpoints", &Capacity::endpoints, "endpoint", WD_ENDPOINTS_LIMIT},
    {"wd_iphost", &Capacity::iphost, "pod and node address", WD_IPHOST_LIMIT},
    {"wd_ipcache", &Capacity::ipcache, "ipcache prefix", WD_IPCACHE_LIMIT},
    {"wd_policy", &Capacity::policy, "policy", WD_POLICY_LIMIT},
    {"wd_portsets", &Capacity::portsets, "portset", WD_PORTSETS_MAX_ENTRIES},
    {"wd_portranges", &Capacity::portranges, "port range", WD_PORTRANGES_LIMIT},
    {"wd_lockdown", &Capacity::lockdown, "lockdown", WD_LOCKDOWN_LIMIT},
    {"wd_ifaces", &Capacity::ifaces, "interface", WD_IFACES_LIMIT},
};

// Whether an ipcache key is a full-length prefix (/32, /128): kept in wd_iphost.
inline bool IsHostPrefix(const wd_ipcache_key& k) {
  return k.prefixlen == WD_IPCACHE_PREFIX_BASE + (k.family == WD_AF_INET ? 32u : 128u);
}

// The entries `t` puts in each table.
Capacity NeedsOf(const NodeTables& t);

// ResourceExhausted naming the first table `have` cannot hold `need` in ("map full: N policy
// entries needed, room for M"); OK when all fit.
absl::Status Fits(const Capacity& have, const Capacity& need);

// `have`, with every table too small for `need` grown to twice the need rounded up to a power of
// two (room for the cluster to grow before the next time), within the table's limit; or
// ResourceExhausted naming a table whose need passes its limit.
absl::StatusOr<Capacity> Grown(const Capacity& have, const Capacity& need);

// The tables whose sizes differ, as "wd_policy 1024 -> 4096, wd_iphost ..." (empty: none).
std::string CapacityChanges(const Capacity& from, const Capacity& to);

}  // namespace warden::datapath
