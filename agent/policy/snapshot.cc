#include "agent/policy/snapshot.h"

#include <cstring>

namespace warden::policy {

wd_ipcache_key MakeIpcacheKey(const Cidr& prefix) {
  wd_ipcache_key k{};
  k.prefixlen = WD_IPCACHE_PREFIX_BASE + prefix.prefix_len;
  k.family = prefix.addr.family == Family::kV4 ? WD_AF_INET : WD_AF_INET6;
  std::memcpy(k.addr, prefix.addr.bytes.data(), 16);
  return k;
}

Cidr CidrOfKey(const wd_ipcache_key& key) {
  IpAddress a;
  a.family = key.family == WD_AF_INET ? Family::kV4 : Family::kV6;
  std::memcpy(a.bytes.data(), key.addr, 16);
  return Cidr{a, static_cast<int>(key.prefixlen - WD_IPCACHE_PREFIX_BASE)};
}

}  // namespace warden::policy
