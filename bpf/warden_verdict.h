/* The verdict: lockdown, then NetworkPolicy through ipcache -> policy -> portset. The user-space
 * twin (agent/policy/lookup.cc) follows the policy steps one for one; docs/datapath.md lists
 * them. Map arguments are always constant per call site (functions are always inlined). */
#ifndef WARDEN_VERDICT_H
#define WARDEN_VERDICT_H

#include "warden_maps.h"
#include "warden_parse.h"

#define WD_L4_OTHER 255

enum wd_local_kind { WD_LOCAL_POD = 0, WD_LOCAL_HOST = 1, WD_LOCAL_UNKNOWN_POD = 2 };

struct wd_local {
  __u64 cgroup_id;
  __u32 identity;
  __u8 isolated;
  __u8 flags;
  __u8 kind; /* enum wd_local_kind */
};

struct wd_decision {
  __u8 allow;
  __u8 reason;
  __u32 remote_identity; /* the identity whose entry decided, or the remote's identity */
};

static __always_inline __u8 wd_l4_index(__u8 proto) {
  if (proto == WD_IPPROTO_TCP) return WD_L4_TCP;
  if (proto == WD_IPPROTO_UDP) return WD_L4_UDP;
  if (proto == WD_IPPROTO_SCTP) return WD_L4_SCTP;
  return WD_L4_OTHER;
}

static __always_inline void wd_ipcache_key_of(struct wd_ipcache_key* k, __u8 family,
                                              const __u8* addr) {
  __builtin_memset(k, 0, sizeof(*k));
  k->family = family;
  if (family == WD_AF_INET) {
    k->prefixlen = WD_IPCACHE_PREFIX_BASE + 32;
    __builtin_memcpy(k->addr, addr, 4);
  } else {
    k->prefixlen = WD_IPCACHE_PREFIX_BASE + 128;
    __builtin_memcpy(k->addr, addr, 16);
  }
}

static __always_inline int wd_ports_allow(void* portsets, const struct wd_policy_value* v, __u8 l4,
                                          __u16 port) {
  if (l4 == WD_L4_OTHER) return (v->flags & WD_POLICY_OTHER_L4) != 0;
  if (l4 >= WD_L4_COUNT) return 0;
  __u32 idx = v->portset[l4];
  struct wd_portset* set = bpf_map_lookup_elem(portsets, &idx);
  if (!set) return 0;
  return (set->bits[(port >> 6) & (WD_PORTSET_WORDS - 1)] >> (port & 63)) & 1;
}

/* Finds the local endpoint from a cgroup: `ancestor(level)` yields the id of the socket's
 * ancestor cgroup at that level. */
#define WD_FIND_LOCAL(out, cfg, endpoints, self_id, ancestor)                             \
  do {                                                                                    \
    (out)->cgroup_id = (self_id);                                                         \
    (out)->identity = WD_ID_HOST;                                                         \
    (out)->isolated = 0;                                                                  \
    (out)->flags = 0;                                                                     \
    (out)->kind = WD_LOCAL_HOST;                                                          \
    if ((cfg)->kubepods_cgroup_id &&                                                      \
        ancestor((cfg)->kubepods_level) == (cfg)->kubepods_cgroup_id) {                   \
      (out)->kind = WD_LOCAL_UNKNOWN_POD;                                                 \
      (out)->identity = WD_ID_NONE;                                                       \
      for (int i_ = 0; i_ < WD_MAX_POD_LEVELS; i_++) {                                    \
        __u32 lvl_ = (cfg)->pod_levels[i_];                                               \
        if (!lvl_) continue;                                                              \
        __u64 id_ = ancestor(lvl_);                                                       \
        struct wd_endpoint* ep_ = bpf_map_lookup_elem(endpoints, &id_);                   \
        if (ep_) {                                                                        \
          (out)->cgroup_id = id_; /* events name the pod's cgroup, not the container's */ \
          (out)->identity = ep_->identity;                                                \
          (out)->isolated = ep_->isolated;                                                \
          (out)->flags = ep_->flags;                                                      \
          (out)->kind = WD_LOCAL_POD;                                                     \
          break;                                                                          \
        }                                                                                 \
      }                                                                                   \
    }                                                                                     \
  } while (0)

/* Decides one direction of a flow for a local endpoint. `port` is the port NetworkPolicy
 * looks at: the remote port for egress, the local port for ingress. */
static __always_inline void wd_decide(void* iphost, void* ipcache, void* policy, void* portsets,
                                      void* lockdown, const struct wd_config* cfg,
                                      const struct wd_local* local, __u8 dir, __u8 family,
                                      const __u8* remote_addr, __u8 proto, __u16 port,
                                      struct wd_decision* d) {
  struct wd_ipcache_key key;
  struct wd_ipcache_value remote = {WD_ID_WORLD, WD_ID_NONE};
  __u8 l4 = wd_l4_index(proto);
  wd_ipcache_key_of(&key, family, remote_addr);
  /* Pod and node addresses (full-length prefixes) sit in a hash, whose cost does not grow with
   * the table; only other addresses walk the LPM trie. The longest match of an address that
   * has a full-length entry is that entry, so the answer is the trie's. */
  struct wd_ipcache_value* rv = bpf_map_lookup_elem(iphost, &key);
  if (!rv) rv = bpf_map_lookup_elem(ipcache, &key);
  if (rv) remote = *rv;
  d->allow = 0;
  d->remote_identity = remote.identity;

  /* Node-pool lockdown: direct egress to the world. */
  if (dir == WD_DIR_EGRESS && remote.identity == WD_ID_WORLD) {
    int ok = 0;
    if (cfg->pool == WD_POOL_GATEWAY) {
      ok = (local->flags & WD_EP_GATEWAY) && proto == WD_IPPROTO_TCP && (port == 80 || port == 443);
    } else {
      struct wd_policy_value* lv = bpf_map_lookup_elem(lockdown, &key);
      ok = lv && wd_ports_allow(portsets, lv, l4, port);
    }
    if (!ok) {
      d->reason = WD_REASON_DENY_POOL_LOCKDOWN;
      return;
    }
  }
  if (local->kind == WD_LOCAL_HOST) {
    d->allow = 1;
    d->reason = WD_REASON_ALLOW_HOST;
    return;
  }
  if (local->kind == WD_LOCAL_UNKNOWN_POD) {
    d->allow = cfg->unknown_pod == WD_UNKNOWN_POD_ALLOW;
    d->reason = d->allow ? WD_REASON_ALLOW_UNKNOWN_POD : WD_REASON_DENY_UNKNOWN_POD;
    return;
  }
  /* A pod cannot block traffic from its own node (kubelet probes): Kubernetes semantics. */
  if (dir == WD_DIR_INGRESS && remote.identity == WD_ID_LOCAL_HOST) {
    d->allow = 1;
    d->reason = WD_REASON_ALLOW_HOST;
    return;
  }
  /* NetworkPolicy. Step 1: isolation. */
  if (!((local->isolated >> dir) & 1)) {
    d->allow = 1;
    d->reason = WD_REASON_ALLOW_NOT_ISOLATED;
    return;
  }
  /* Step 2-3: the remote's pod identity, then its CIDR identity. */
  struct wd_policy_key pk = {};
  pk.local_identity = local->identity;
  pk.direction = dir;
  pk.remote_identity = remote.identity;
  struct wd_policy_value* pv = bpf_map_lookup_elem(policy, &pk);
  if (pv && wd_ports_allow(portsets, pv, l4, port)) {
    d->allow = 1;
    d->reason = WD_REASON_ALLOW_POLICY;
    return;
  }
  if (remote.cidr_identity != WD_ID_NONE) {
    pk.remote_identity = remote.cidr_identity;
    pv = bpf_map_lookup_elem(policy, &pk);
    if (pv && wd_ports_allow(portsets, pv, l4, port)) {
      d->allow = 1;
      d->reason = WD_REASON_ALLOW_POLICY;
      d->remote_identity = remote.cidr_identity;
      return;
    }
  }
  d->reason = WD_REASON_DENY_POLICY;
}

/* wd_decide on the live copy of the tables. */
#define WD_DECIDE(cfg, ...)                                                                     \
  do {                                                                                          \
    if ((cfg)->active)                                                                          \
      wd_decide(&wd_iphost_b, &wd_ipcache_b, &wd_policy_b, &wd_portsets_b, &wd_lockdown_b, cfg, \
                __VA_ARGS__);                                                                   \
    else                                                                                        \
      wd_decide(&wd_iphost_a, &wd_ipcache_a, &wd_policy_a, &wd_portsets_a, &wd_lockdown_a, cfg, \
                __VA_ARGS__);                                                                   \
  } while (0)

#endif /* WARDEN_VERDICT_H */
