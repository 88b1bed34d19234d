#include "tests/bench/datapath_tables.h"

#include <arpa/inet.h>

#include <cstring>

#include "agent/common/abi.h"
#include "agent/policy/port_sets.h"

namespace warden::bench {

namespace {

constexpr uint32_t kCidrCluster = WD_ID_CIDR_FLAG | 1, kCidrWorld = WD_ID_CIDR_FLAG | 2;
constexpr uint16_t kPortsetPort = 2;  // the port set that allows kPort only

wd_ipcache_key V4Key(uint32_t host_order, int plen) {
  wd_ipcache_key k;
  std::memset(&k, 0, sizeof(k));
  k.prefixlen = WD_IPCACHE_PREFIX_BASE + plen;
  k.family = WD_AF_INET;
  PutIpv4(k.addr, host_order);
  return k;
}

wd_policy_value PolicyValue(uint16_t tcp_set) {
  wd_policy_value v;
  std::memset(&v, 0, sizeof(v));
  v.portset[WD_L4_TCP] = tcp_set;
  return v;
}

wd_endpoint Isolated(uint32_t identity) {
  wd_endpoint ep;
  std::memset(&ep, 0, sizeof(ep));
  ep.identity = identity;
  ep.isolated = WD_ISOLATED_INGRESS | WD_ISOLATED_EGRESS;
  return ep;
}

// Empty, all, and the set that allows kPort (as the agent builds them: AppendKernelPortset).
void AddPortsets(const TableSpec& s, datapath::NodeTables& t) {
  std::vector<policy::PortRange> ports;
  for (int i = 0; i < s.port_ranges; ++i) {
    uint16_t p = static_cast<uint16_t>(kPort - 2 * i);
    ports.push_back({p, p});
  }
  policy::KernelPortsets k;
  for (const auto& set : policy::PortsetList{{}, {{0, 65535}}, ports})
    policy::AppendKernelPortset(set, &k);
  t.portsets = std::move(k.sets);
  t.portranges = std::move(k.ranges);
}

void AddIpcache(const TableSpec& s, datapath::NodeTables& t) {
  // Pod addresses carry their namespace's identity, as the compiler writes them (100
  // namespaces): a decision that no entry allows probes it and "any pod" too.
  auto add = [&](uint32_t addr, int plen, uint32_t id, uint32_t cidr) {
    const uint32_t ns = common::IsPodIdentity(id) ? WD_ID_NS_FLAG | (1 + id % 100) : WD_ID_NONE;
    t.ipcache[V4Key(addr, plen)] = wd_ipcache_value{id, cidr, ns};
  };
  add(0, 0, WD_ID_WORLD, kCidrWorld);
  add(10u << 24, 8, WD_ID_CLUSTER, kCidrCluster);
  for (int j = 0; j < s.ipcache_remotes; ++j) add(RemoteAddr(j), 32, kRemoteBase + j, kCidrCluster);
  for (uint32_t j : s.required_remotes) add(RemoteAddr(j), 32, kRemoteBase + j, kCidrCluster);
  for (const auto& [addr, id] : s.extra_ipcache) add(addr, 32, id, kCidrCluster);
}

}  // namespace

void PutIpv4(uint8_t* addr, uint32_t host_order) {
  uint32_t net = htonl(host_order);
  std::memcpy(addr, &net, 4);
}

wd_policy_key PolicyKey(uint32_t local, uint32_t remote, uint8_t dir) {
  wd_policy_key k;
  std::memset(&k, 0, sizeof(k));
  k.local_identity = local;
  k.remote_identity = remote;
  k.direction = dir;
  return k;
}

datapath::NodeTables BuildTables(const TableSpec& s) {
  datapath::NodeTables t;
  AddPortsets(s, t);
  for (const auto& [cg, id] : s.endpoints) t.endpoints[cg] = Isolated(id);
  // Other local pods, so the endpoint map is not trivially small.
  for (int k = 0; k < kLocals; ++k) t.endpoints[(uint64_t{1} << 40) + k] = Isolated(kLocalBase + k);
  AddIpcache(s, t);
  for (const auto& k : s.extra_policy) t.policy[k] = PolicyValue(kPortsetPort);
  for (int e = 0; static_cast<int>(t.policy.size()) < s.policy_entries; ++e) {
    uint8_t dir = (e / kLocals) % 2 == 0 ? WD_DIR_EGRESS : WD_DIR_INGRESS;
    t.policy[PolicyKey(kLocalBase + e % kLocals, kRemoteBase + e, dir)] =
        PolicyValue(e % 3 == 0 ? kPortsetPort : WD_PORTSET_ALL);
  }
  return t;
}

}  // namespace warden::bench
