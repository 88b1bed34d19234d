/* The decision: lockdown, then NetworkPolicy through ipcache -> policy -> portset, on one copy
 * of the tables. The user-space twin (agent/policy/lookup.cc) follows the policy steps one for
 * one; docs/datapath.md lists them. */
#ifndef WARDEN_VERDICT_H
#define WARDEN_VERDICT_H

#include "warden_forward.h"
#include "warden_local.h"
#include "warden_parse.h"

#define WD_L4_OTHER 255

/* The verdict of one direction, decided or read from a cache. */
struct wd_decision {
  __u8 allow;
  __u8 reason;
  /* An ingress verdict about a world address: it admits the flow's packets toward the pod, but
   * cannot stand for the pod's replies (the node-pool lockdown decides those, by the peer's
   * address and port). */
  __u8 reply_barred;
  /* Egress to a world address that the node-pool lockdown let through (set by wd_decide only,
   * not kept in the caches: the interface programs ask it of a fresh decision). In the padding
   * before remote_identity: the frames of a chain share 512 bytes of stack. */
  __u8 world_egress;
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

static __always_inline int wd_in_range(const struct wd_port_range* r, __u16 port) {
  return r->lo <= port && port <= r->hi;
}

/* One search of a set's run of ranges in `portranges` for `port`: the last range starting at
 * or below it, found by halving [first, first + count), must reach it. Returns 1 (it does), 0
 * (it does not, or the run lies beyond the array) or -1 (another search ran on this CPU
 * meanwhile, so what wd_search held may not be ours: never an answer to trust). Everything it keeps
 * across calls is in wd_search (no stack), except `mine`: the port is read back once, before the
 * check of `seq` that vouches for it, and compared after. */
static __always_inline int wd_run_attempt(void* portranges, struct wd_search* s,
                                          const struct wd_portset* set, __u32 port) {
  __u32 mine = ++s->seq;
  s->port = port;
  s->lo = set->first;
  s->hi = set->first + set->count;
#pragma unroll
  for (int i = 0; i < WD_PORTSET_SEARCH_STEPS; i++) {
    /* s opaque to the compiler: each step addresses its fields from s itself, rather than from
     * pointers to them kept (on the stack) across the calls */
    __asm__ __volatile__("" : "+r"(s));
    if (s->hi - s->lo <= 1) break;
    s->key = s->lo + (s->hi - s->lo) / 2;
    struct wd_port_range* r = bpf_map_lookup_elem(portranges, &s->key);
    if (!r) return 0;
    if (r->lo <= s->port)
      s->lo = s->key;
    else
      s->hi = s->key;
  }
  s->key = s->lo;
  struct wd_port_range* r = bpf_map_lookup_elem(portranges, &s->key);
  __u32 looked_for = s->port;
  if (s->seq != mine) return -1;
  return r && wd_in_range(r, looked_for);
}

/* A search of a set's run (wd_run_attempt's answer). */
static __always_inline int wd_run_has(void* portranges, const struct wd_portset* set, __u32 port) {
  struct wd_search* s = bpf_map_lookup_elem(&wd_search, &wd_zero_key);
  if (!s || !set) return 0;
  return wd_run_attempt(portranges, s, set, port);
}

/* The search in each copy's wd_portranges: global functions (warden.bpf.c), verified once on
 * their own rather than at every decision that inlines wd_ports_allow. Only sets of more than
 * WD_PORTSET_INLINE ranges pay the call. */
int wd_portrun_has_a(const struct wd_portset* set, __u32 port);
int wd_portrun_has_b(const struct wd_portset* set, __u32 port);

/* Whether a set's run holds `port`. A search another one interrupted refuses (fail closed):
 * retrying here would take stack the chain of BPF functions above has no room for. */
static __always_inline int wd_portrun_has(const struct wd_tables* t, const struct wd_portset* set,
                                          __u32 port) {
  return (t->side ? wd_portrun_has_b(set, port) : wd_portrun_has_a(set, port)) > 0;
}

/* Whether a policy (or lockdown) entry allows `port` of L4 protocol index `l4`. */
static __always_inline int wd_ports_allow(const struct wd_tables* t,
                                          const struct wd_policy_value* v, __u8 l4, __u16 port) {
  if (l4 == WD_L4_OTHER) return (v->flags & WD_POLICY_OTHER_L4) != 0;
  if (l4 >= WD_L4_COUNT) return 0;
  __u32 idx = v->portset[l4];
  struct wd_portset* set = bpf_map_lookup_elem(t->portsets, &idx);
  if (!set) return 0;
  __u32 n = set->count;
  if (n > WD_PORTSET_INLINE) return wd_portrun_has(t, set, port);
  return (n > 0 && wd_in_range(&set->ranges[0], port)) ||
         (n > 1 && wd_in_range(&set->ranges[1], port));
}

/* One policy probe: whether the entry of `pk` (local identity and direction set) for
 * `remote_id` allows the port; if so the decision is made, naming the entry's remote identity.
 * One key for every probe: the frames of a chain share 512 bytes of stack. */
static __always_inline int wd_policy_probe(const struct wd_tables* t, struct wd_policy_key* pk,
                                           __u32 remote_id, __u8 l4, __u16 port,
                                           struct wd_decision* d) {
  pk->remote_identity = remote_id;
  struct wd_policy_value* pv = bpf_map_lookup_elem(t->policy, pk);
  if (!pv || !wd_ports_allow(t, pv, l4, port)) return 0;
  d->allow = 1;
  d->reason = WD_REASON_ALLOW_POLICY;
  d->remote_identity = remote_id;
  return 1;
}

/* Whether `addr` of `family` is a loopback address: IPv4 127.0.0.0/8, IPv6 ::1 (an IPv4-mapped
 * one reaches the decision as IPv4). Byte compares: the address may sit at any offset. The last
 * byte first, then the others OR-ed rather than branched on each: in this order the check
 * costs the verifier nothing (fewer instructions processed than without it; OR-ing all sixteen
 * first cost a quarter more). */
static __always_inline int wd_is_loopback(__u8 family, const __u8* addr) {
  if (family == WD_AF_INET) return addr[0] == 127;
  if (family != WD_AF_INET6 || addr[15] != 1) return 0;
  __u8 high = 0;
#pragma unroll
  for (int i = 0; i < 15; i++) high |= addr[i];
  return high == 0;
}

/* A flow with a loopback peer: allowed, as the node's own are (WD_REASON_ALLOW_HOST). It never
 * leaves the network namespace of the socket (the kernel sends it over that namespace's lo
 * device and drops loopback addresses arriving on any other), Kubernetes does not let
 * NetworkPolicy block localhost, and host processes (kubelet, the container runtime's streaming
 * server, kube-proxy) talk over it. Not the world: no node-pool lockdown, and it stands for
 * replies both ways. The cgroup programs only (wd_decide_on): at a pod's interface such an
 * address is forged (wd_if_decide). */
static __always_inline void wd_decide_loopback(struct wd_decision* d) {
  d->allow = 1;
  d->reason = WD_REASON_ALLOW_HOST;
  d->reply_barred = 0;
  d->world_egress = 0;
  d->remote_identity = WD_ID_LOCAL_HOST;
}

/* A socket's destination of the unspecified address (0.0.0.0, ::) is loopback: the kernel sends
 * it to 127.0.0.1 or ::1 (the IPv4 route lookup, tcp_v6_connect, udpv6_sendmsg), so the
 * socket-address programs judge it as that address. A pod's connect to 0.0.0.0:PORT reaches its
 * own listener, and would otherwise meet the lockdown or a 0.0.0.0/0 ipBlock as the world. Only
 * what the socket names: a packet carries the loopback address itself. `f` holds an IPv4
 * address in its first four bytes, the rest zero. */
static __always_inline void wd_unspecified_to_loopback(struct wd_flow* f) {
  __u64 high, low;
  __builtin_memcpy(&high, f->remote_addr, 8);
  __builtin_memcpy(&low, f->remote_addr + 8, 8);
  if (high | low) return;
  if (f->family == WD_AF_INET) {
    f->remote_addr[0] = 127;
    f->remote_addr[3] = 1;
  } else {
    f->remote_addr[15] = 1;
  }
}

/* Decides direction `dir` of a flow for `local` on the tables `t`. `port` is the port
 * NetworkPolicy looks at: the remote port for egress, the local port for ingress. */
static __always_inline void wd_decide(const struct wd_tables* t, const struct wd_config* cfg,
                                      const struct wd_local* local, __u8 dir, __u8 family,
                                      const __u8* remote_addr, __u8 proto, __u16 port,
                                      struct wd_decision* d) {
  /* The policy probes' key takes the place of the address key once that is done with: the
   * frames of a chain share 512 bytes of stack. */
  /* A pod's connection to the node's forwarder (the redirected connects' packets): passes
   * whatever the pod's policy, which connect4 asked about the gateway instead; the forwarder
   * carries only connections it has a record of. First, while the least is held. */
  if (dir == WD_DIR_EGRESS && local->kind == WD_LOCAL_POD &&
      wd_to_forwarder(cfg, family, remote_addr, proto, port)) {
    d->allow = 1;
    d->reason = WD_REASON_ALLOW_FORWARDER;
    d->reply_barred = 0;
    d->world_egress = 0;
    d->remote_identity = WD_ID_LOCAL_HOST;
    return;
  }
  union {
    struct wd_ipcache_key ip;
    struct wd_policy_key policy;
  } keys;
  struct wd_ipcache_key* key = &keys.ip;
  __u8 l4 = wd_l4_index(proto);
  wd_ipcache_key_of(key, family, remote_addr);
  /* Pod and node addresses (full-length prefixes) sit in a hash, whose cost does not grow with
   * the table; only other addresses walk the LPM trie. The longest match of an address that
   * has a full-length entry is that entry, so the answer is the trie's. */
  struct wd_ipcache_value* rv = bpf_map_lookup_elem(t->iphost, key);
  if (!rv) rv = bpf_map_lookup_elem(t->ipcache, key);
  /* The remote's identities read into scalars, not a copy of the entry: the frames of a chain
   * share 512 bytes of stack. No entry: the world. */
  __u32 remote_id = rv ? rv->identity : WD_ID_WORLD;
  __u32 remote_ns = rv ? rv->ns_identity : WD_ID_NONE;
  __u32 remote_cidr = rv ? rv->cidr_identity : WD_ID_NONE;
  d->allow = 0;
  d->remote_identity = remote_id;
  /* Every node pool locks direct egress to the world down: an inbound packet from the world
   * must not make the pod's answers pass as replies (they are judged by the lockdown). */
  d->reply_barred = dir == WD_DIR_INGRESS && remote_id == WD_ID_WORLD;
  d->world_egress = 0;

  /* Node-pool lockdown: direct egress to the world. */
  if (dir == WD_DIR_EGRESS && remote_id == WD_ID_WORLD) {
    int ok = 0;
    if (cfg->pool == WD_POOL_GATEWAY) {
      ok = (local->flags & WD_EP_GATEWAY) && proto == WD_IPPROTO_TCP && (port == 80 || port == 443);
    } else {
      struct wd_policy_value* lv = bpf_map_lookup_elem(t->lockdown, key);
      ok = lv && wd_ports_allow(t, lv, l4, port);
    }
    if (!ok) {
      d->reason = WD_REASON_DENY_POOL_LOCKDOWN;
      return;
    }
    d->world_egress = 1;
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
  if (dir == WD_DIR_INGRESS && remote_id == WD_ID_LOCAL_HOST) {
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
  /* Step 2-3: the remote's pod identity, its namespace's, "any pod", then its CIDR identity. */
  struct wd_policy_key* pk = &keys.policy;
  __builtin_memset(pk, 0, sizeof(*pk));
  pk->local_identity = local->identity;
  pk->direction = dir;
  if (wd_policy_probe(t, pk, remote_id, l4, port, d)) return;
  if (remote_ns != WD_ID_NONE) {
    if (wd_policy_probe(t, pk, remote_ns, l4, port, d)) return;
    if (wd_policy_probe(t, pk, WD_ID_ANY_POD, l4, port, d)) return;
  }
  if (remote_cidr != WD_ID_NONE && wd_policy_probe(t, pk, remote_cidr, l4, port, d)) return;
  d->reason = WD_REASON_DENY_POLICY;
}

#endif /* WARDEN_VERDICT_H */
