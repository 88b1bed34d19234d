#include "agent/policy/lookup.h"

#include "agent/policy/port_sets.h"

#include <cstring>

namespace warden::policy {

namespace {
// The bytes an LPM trie compares: everything after prefixlen, masked to `bits`.
std::string MaskedData(const wd_ipcache_key& k, uint32_t bits) {
  std::string data(reinterpret_cast<const char*>(&k) + sizeof(k.prefixlen),
                   sizeof(k) - sizeof(k.prefixlen));
  for (size_t i = 0; i < data.size(); ++i) {
    uint32_t bit0 = static_cast<uint32_t>(i) * 8;
    if (bit0 >= bits) {
      data[i] = 0;
    } else if (bit0 + 8 > bits) {
      data[i] = static_cast<char>(static_cast<uint8_t>(data[i]) &
                                  static_cast<uint8_t>(0xff << (8 - (bits - bit0))));
    }
  }
  return data;
}
}  // namespace

DatapathTwin::DatapathTwin(const Snapshot& snap) : snap_(snap) {
  portsets_.sets.reserve(snap.portsets.size());
  for (const auto& set : snap.portsets) AppendKernelPortset(set, &portsets_);
  for (const auto& [k, v] : snap.ipcache) lpm_[k.prefixlen][MaskedData(k, k.prefixlen)] = v;
}

std::optional<wd_ipcache_value> DatapathTwin::LookupIpcache(const IpAddress& ip) const {
  wd_ipcache_key key = MakeIpcacheKey(HostPrefix(ip));
  for (const auto& [len, entries] : lpm_) {
    if (len > key.prefixlen) continue;
    auto it = entries.find(MaskedData(key, len));
    if (it != entries.end()) return it->second;
  }
  return std::nullopt;
}

TwinVerdict DatapathTwin::Lookup(uint32_t local, const wd_ipcache_value& remote, uint8_t direction,
                                 std::optional<Protocol> protocol, uint16_t port) const {
  TwinVerdict v;
  // Step 1: is the local identity isolated in this direction? If not, everything passes.
  v.isolated = (snap_.IsolationOf(local) >> direction) & 1u;
  if (!v.isolated) {
    v.allowed = true;
    return v;
  }
  // Step 2: probe with the remote's identity, its namespace's and "any pod" (a pod address),
  // then its CIDR identity.
  const uint32_t any_pod = remote.ns_identity != WD_ID_NONE ? WD_ID_ANY_POD : WD_ID_NONE;
  for (uint32_t remote_id : {remote.identity, remote.ns_identity, any_pod, remote.cidr_identity}) {
    if (remote_id == WD_ID_NONE) continue;
    auto it = snap_.policy.find(PolicyKey{local, remote_id, direction});
    if (it == snap_.policy.end()) continue;
    const wd_policy_value& pv = it->second;
    // Step 3: the port set of the protocol (or the flag for other protocols).
    bool ok = protocol ? KernelPortsetHas(portsets_.sets[pv.portset[L4Index(*protocol)]],
                                          portsets_.ranges, port)
                       : (pv.flags & WD_POLICY_OTHER_L4) != 0;
    if (ok) {
      v.allowed = true;
      v.matched_remote = remote_id;
      return v;
    }
  }
  return v;
}

}  // namespace warden::policy
