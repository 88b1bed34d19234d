// Synthetic node tables for datapath_bench, written in the ABI's layouts: local identities
// 256..265 (one per local pod), remote identities 100000 + j at 10.64.0.0 + j, a port set that
// allows TCP kPort. Policy entry e: local 256 + e % 10, remote 100000 + e, egress when (e / 10)
// is even, else ingress. So local 256 has egress entries for the remotes e = 0, 20, 40, ...
#pragma once

#include <cstdint>
#include <utility>
#include <vector>

#include "agent/datapath/node_tables.h"

namespace warden::bench {

inline constexpr uint32_t kLocalBase = 256;      // local identities 256..256+kLocals-1
inline constexpr uint32_t kRemoteBase = 100000;  // remote identity j = kRemoteBase + j
inline constexpr int kLocals = 10;
inline constexpr uint16_t kPort = 8080;

// Remote j's address: 10.64.0.0/10 + j, host order.
inline uint32_t RemoteAddr(uint32_t j) { return (10u << 24 | 64u << 16) + j; }

// Writes an IPv4 address (host order) into the 16-byte address field of a key.
void PutIpv4(uint8_t* addr, uint32_t host_order);

wd_policy_key PolicyKey(uint32_t local, uint32_t remote, uint8_t dir);

struct TableSpec {
  int policy_entries = 10;
  int ipcache_remotes = 10;                // /32s of remotes 0..n-1
  std::vector<uint32_t> required_remotes;  // also in the ipcache
  // cgroup id -> identity (isolated both ways)
  std::vector<std::pair<uint64_t, uint32_t>> endpoints;
  std::vector<std::pair<uint32_t, uint32_t>> extra_ipcache;  // address -> identity
  std::vector<wd_policy_key> extra_policy;  // allowed on TCP kPort, counted in policy_entries
  // Ranges of the set that allows kPort: kPort and every other port below it down to that many
  // (more than WD_PORTSET_INLINE: a run in wd_portranges, searched by halving).
  int port_ranges = 1;
};

datapath::NodeTables BuildTables(const TableSpec& s);

}  // namespace warden::bench
