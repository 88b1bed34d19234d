// SPDX-License-Identifier: GPL-2.0
/* Warden's programs. The first line, attached to a node's cgroup: every socket of every process
 * on the node (pods and host processes) passes through them.
 *   cgroup_skb/egress, cgroup_skb/ingress: the verdict on every packet (cached verdicts and
 *     conntrack for flows already admitted, re-checked when the generation changes).
 *   cgroup/connect4|6, cgroup/sendmsg4|6: refuse a denied TCP connect or UDP send at once, so
 *     the application sees EPERM instead of a time-out; connect4 sends a pod's world-bound
 *     connect on a gateway port to the node's forwarder when its policy admits the gateway.
 *   sockops, cgroup/getpeername4: the forwarder's records (warden_forward.h).
 * The second line, attached (tc) to the node side of each local pod's network interface: every
 * packet leaving the pod or going to it, whatever socket or none made it.
 *   wd_if_egress (tc ingress of that interface), wd_if_ingress (tc egress).
 * Headers, one concern each: warden_parse.h (packet -> flow), warden_tcp.h (the packet's TCP
 * socket), warden_local.h (cgroup -> local endpoint), warden_verdict.h (the decision),
 * warden_caches.h (what was decided before), warden_iface.h (the second line's pieces),
 * warden_events.h (counters and events), warden_forward.h (the node forwarder's records),
 * warden_maps.h (the maps), warden_structs.h and
 * warden_consts.h (the ABI). */
#include "vmlinux.h"

#include <bpf/bpf_endian.h>
#include <bpf/bpf_helpers.h>

#include "warden_caches.h"
#include "warden_events.h"
#include "warden_iface.h"
#include "warden_tcp.h"

char LICENSE[] SEC("license") = "GPL";

/* What a packet or connect is judged under, read once: the configuration, its generation and
 * which copy of the tables is live, and the socket (the program's context and the socket's own
 * cgroup). A packet's lives in its struct wd_packet, in wd_skb's frame, where wd_skb_slow reads
 * it (the two frames share the 512 bytes of BPF stack). */
struct wd_view {
  const struct wd_config* cfg;
  void* ctx;        /* the program's context */
  __u64 self;       /* the socket's own cgroup */
  __u32 generation; /* cfg->generation */
  __u8 active;      /* cfg->active */
};

/* Decides k's direction for `local` on the tables `t`, resolving `local` on first need
 * (ancestor cgroups read `from` the packet or the current task). A loopback peer is allowed
 * before any table (wd_decide_loopback): what a socket sees here stays in its own network
 * namespace. The interface programs decide through wd_decide alone, without this exemption. */
static __always_inline void wd_decide_on(const struct wd_tables* t, const struct wd_view* v,
                                         enum wd_ancestry from, const struct wd_verdict_key* k,
                                         const struct wd_flow* f, struct wd_local* local,
                                         struct wd_decision* d) {
  if (!local->resolved) wd_find_local(local, v->cfg, t->endpoints, v->ctx, from, v->self);
  if (wd_is_loopback(f->family, f->remote_addr)) {
    wd_decide_loopback(d);
    return;
  }
  wd_decide(t, v->cfg, local, k->direction, f->family, f->remote_addr, f->protocol, k->port, d);
}

/* Decides k on the live copy of the tables and caches the verdict. */
static __always_inline void wd_decide_now(const struct wd_view* v, enum wd_ancestry from,
                                          const struct wd_verdict_key* k, const struct wd_flow* f,
                                          struct wd_local* local, struct wd_decision* d) {
  /* A branch per copy, each with constant map pointers (see struct wd_tables). */
  if (v->active) {
    struct wd_tables t = wd_tables_b();
    wd_decide_on(&t, v, from, k, f, local, d);
  } else {
    struct wd_tables t = wd_tables_a();
    wd_decide_on(&t, v, from, k, f, local, d);
  }
  wd_cache_decision(k, local, d, v->generation);
}

/* wd_decide_now as a function of its own (a BPF-to-BPF call), one per place ancestor cgroups are
 * read from (each program type may call only its own helper): every caller shares one body and
 * one stack frame of the lookups' keys, instead of two inlined copies of the decision each. */
static __noinline int wd_decide_now_skb(const struct wd_view* v, const struct wd_verdict_key* k,
                                        const struct wd_flow* f, struct wd_local* local,
                                        struct wd_decision* d) {
  wd_decide_now(v, WD_ANCESTRY_SKB, k, f, local, d);
  return 0;
}

static __noinline int wd_decide_now_current(const struct wd_view* v, const struct wd_verdict_key* k,
                                            const struct wd_flow* f, struct wd_local* local,
                                            struct wd_decision* d) {
  wd_decide_now(v, WD_ANCESTRY_CURRENT, k, f, local, d);
  return 0;
}

/* The verdict of k into `d`: `cached` (k's wd_verdicts entry of this generation) when there is
 * one, else decided now on the live copy of the tables and cached. Returns 1 when decided now.
 * `from` is a constant at every call site. */
static __always_inline int wd_verdict(const struct wd_view* v, enum wd_ancestry from,
                                      const struct wd_verdict_key* k,
                                      const struct wd_verdict_value* cached,
                                      const struct wd_flow* f, struct wd_local* local,
                                      struct wd_decision* d) {
  if (cached) {
    wd_cached_decision(cached, d, local);
    return 0;
  }
  if (from == WD_ANCESTRY_SKB)
    wd_decide_now_skb(v, k, f, local, d);
  else
    wd_decide_now_current(v, k, f, local, d);
  return 1;
}

/* The node forwarder's redirect of a connect the lockdown refused (defined below). */
int wd_fwd_redirect(struct bpf_sock_addr* ctx, const struct wd_flow* world);

/* A new connection (a connect, a SYN or handshake ACK at a listener) or a UDP send: only its own
 * direction's verdict counts (k, whose wd_vcache hash is h). An allowing one is copied into
 * wd_vcache: the connection's next packets, or the connect's SYN, find it there. Events for
 * denials and for verdicts decided now. With `fwd_ctx` (a connect4 the forwarder may take,
 * wd_fwd_takes; NULL everywhere else), a connect the node-pool lockdown refuses goes to the
 * forwarder when the pod's policy admits the gateway (counted and reported as redirected, every
 * time: it is not a verdict to cache); otherwise it stays refused. */
static __always_inline int wd_admit_new(const struct wd_view* v, enum wd_ancestry from, __u8 hook,
                                        const struct wd_verdict_key* k, __u64 h,
                                        const struct wd_flow* f, struct bpf_sock_addr* fwd_ctx) {
  struct wd_local local = {};
  struct wd_decision d;
  int fresh = wd_verdict(v, from, k, wd_cached(k, v->generation), f, &local, &d);
  if (fwd_ctx && !d.allow && d.reason == WD_REASON_DENY_POOL_LOCKDOWN &&
      wd_fwd_redirect(fwd_ctx, f)) {
    d.allow = 1;
    d.reason = WD_REASON_REDIRECT_GATEWAY;
    wd_count(hook, d.reason);
    wd_emit(hook, k->direction, &local, f, &d);
    return 1;
  }
  if (d.allow && !d.reply_barred) wd_vcache_put(k, h, v->generation);
  wd_count(hook, fresh || !d.allow ? d.reason : WD_REASON_ALLOW_TRACKED);
  if (fresh || !d.allow) wd_emit(hook, k->direction, &local, f, &d);
  return d.allow ? 1 : 0;
}

/* ---- cgroup_skb: the fast path --------------------------------------------------------------- */

/* A packet as wd_skb hands it to wd_skb_slow: parsed, and the socket's own cgroup when
 * wd_tcp_socket read it. */
struct wd_packet {
  struct wd_flow flow;
  __u64 self;
};

/* The verdict keys the fast path made for a packet of a TCP socket, handed to wd_skb_slow so that
 * it does not make them again: the packet's own direction [0] and (a connection) the reverse
 * one [1]. Not part of struct wd_packet, so that it can share stack with the headers
 * wd_parse_skb reads before. */
struct wd_tcp_lookup {
  struct wd_verdict_key key[2];
};

/* A packet of a TCP connection: admitted when this direction's verdict or the reverse one's (a
 * reply) is cached and allowing under the current generation; first in wd_vcache (no calls),
 * then in wd_verdicts (copied into wd_vcache when found there). The likelier one is looked up
 * first: the service's port is usually the lower one, so a packet whose higher port is the one
 * its own direction's verdict is keyed by is likely a reply. Returns 1 when admitted; else `l`
 * holds both keys for wd_skb_slow, the packet's own direction first. */
static __always_inline int wd_connection_cached(const struct wd_packet* p, struct wd_tcp_lookup* l,
                                                __u8 dir, __u32 generation, __u32 seed) {
  const struct wd_flow* f = &p->flow;
  int reply_likely =
      dir == WD_DIR_EGRESS ? f->remote_port > f->local_port : f->local_port > f->remote_port;
  struct wd_verdict_key* k = &l->key[0];
  struct wd_verdict_key* rk = &l->key[1];
  wd_verdict_key_of(k, p->self, f, reply_likely ? dir ^ 1 : dir);
  *rk = *k;
  rk->direction ^= 1;
  rk->port = rk->direction == WD_DIR_EGRESS ? f->remote_port : f->local_port;

  __u64 h = wd_vcache_hash(k, seed);
  if (wd_vcache_allows(k, h, generation)) return 1;
  __u64 rh = wd_vcache_hash(rk, seed);
  if (wd_vcache_allows(rk, rh, generation)) return 1;
  /* wd_vcache holds no reply_barred verdict: what it admits it admits both ways. */
  struct wd_verdict_value* c = wd_cached(k, generation);
  if (wd_cached_admits(c, k, dir)) {
    if (!c->reply_barred) wd_vcache_put(k, h, generation);
    return 1;
  }
  c = wd_cached(rk, generation);
  if (wd_cached_admits(c, rk, dir)) {
    if (!c->reply_barred) wd_vcache_put(rk, rh, generation);
    return 1;
  }
  /* On to a decision: the packet's own direction first, as wd_skb_slow takes them (one order
   * there instead of two keeps the verifier's work down). */
  if (reply_likely) wd_verdict_key_swap(k, rk);
  return 0;
}

__noinline int wd_portrun_has_a(const struct wd_portset* set, __u32 port) {
  return wd_run_has(&wd_portranges_a, set, port);
}

__noinline int wd_portrun_has_b(const struct wd_portset* set, __u32 port) {
  return wd_run_has(&wd_portranges_b, set, port);
}

/* wd_skb_slow's `tcp` argument besides the WD_TCP_* kinds: a packet wd_parse_skb could not read. */
#define WD_SKB_MALFORMED 3

int wd_skb_tcp(struct __sk_buff* skb, struct wd_packet* p, struct wd_tcp_lookup* l, __u32 dir,
               __u32 tcp);
int wd_skb_other(struct __sk_buff* skb, struct wd_packet* p, __u32 dir, __u32 malformed);

/* Most packets are packets of admitted TCP connections: for them this makes no call beyond the
 * program's own entry and return (docs/datapath.md, "The fast path"). */
static __always_inline int wd_skb(struct __sk_buff* skb, __u8 dir) {
  __u8 hook = dir == WD_DIR_EGRESS ? WD_HOOK_EGRESS : WD_HOOK_INGRESS;
  const struct wd_config* cfg = wd_cfg();
  if (!cfg || !cfg->configured) {
    wd_count(hook, WD_REASON_DENY_NOT_CONFIGURED);
    return 0;
  }
  struct wd_packet p;
  int parsed = wd_parse_skb(skb, dir == WD_DIR_EGRESS, &p.flow);
  if (parsed == WD_PARSE_NOT_IP) return 1; /* not ours */
  p.self = 0;
  __u32 generation = cfg->generation;
  struct wd_tcp_lookup l;
  int tcp = WD_SKB_MALFORMED;
  if (parsed == WD_PARSED) tcp = wd_tcp_socket(skb, &p.flow, dir, &p.self);
  if (tcp == WD_TCP_LISTENER) {
    /* A connection being opened (a SYN, the ACK completing the handshake): its own verdict. */
    wd_verdict_key_of(&l.key[0], p.self, &p.flow, dir);
    if (wd_vcache_allows(&l.key[0], wd_vcache_hash(&l.key[0], cfg->vcache_seed), generation)) {
      wd_count(hook, WD_REASON_ALLOW_TRACKED);
      return 1;
    }
  }
  if (tcp == WD_TCP_CONNECTION && wd_connection_cached(&p, &l, dir, generation, cfg->vcache_seed)) {
    wd_count(hook, WD_REASON_ALLOW_TRACKED);
    return 1;
  }
  if (tcp == WD_TCP_LISTENER || tcp == WD_TCP_CONNECTION)
    return wd_skb_tcp(skb, &p, &l, dir, tcp) ? 1 : 0;
  return wd_skb_other(skb, &p, dir, tcp == WD_SKB_MALFORMED) ? 1 : 0;
}

SEC("cgroup_skb/egress")
int wd_egress(struct __sk_buff* skb) { return wd_skb(skb, WD_DIR_EGRESS); }

SEC("cgroup_skb/ingress")
int wd_ingress(struct __sk_buff* skb) { return wd_skb(skb, WD_DIR_INGRESS); }

/* ---- cgroup_skb: the slow path --------------------------------------------------------------- */

/* The packet's local endpoint, found on the live copy of the tables (for a packet that no
 * verdict resolved it for: a cached verdict, or none at all). */
static __always_inline void wd_find_local_live(const struct wd_view* v, struct wd_local* local) {
  if (v->active) {
    struct wd_tables t = wd_tables_b();
    wd_find_local(local, v->cfg, t.endpoints, v->ctx, WD_ANCESTRY_SKB, v->self);
  } else {
    struct wd_tables t = wd_tables_a();
    wd_find_local(local, v->cfg, t.endpoints, v->ctx, WD_ANCESTRY_SKB, v->self);
  }
}

/* Whether the packet's socket is a host process's. */
static __always_inline int wd_local_is_host(const struct wd_view* v) {
  struct wd_local local = {};
  wd_find_local_live(v, &local);
  return local.kind == WD_LOCAL_HOST;
}

/* A packet of a TCP connection that no cached verdict admits (wd_connection_cached looked both
 * directions up): this direction's verdict, decided now unless one is cached, then the reverse
 * one's (the packet as a reply) unless this direction was refused by the node-pool lockdown: the
 * lockdown comes before any reply shortcut, so a connection a world address opened to the pod
 * carries nothing back unless the lockdown lets the pod reach that address and port. Events
 * name this direction's verdict only. */
static __always_inline int wd_skb_connection(const struct wd_view* v, const struct wd_flow* f,
                                             const struct wd_tcp_lookup* l, __u8 hook, __u8 dir,
                                             int stays_local) {
  struct wd_local local = {};
  struct wd_decision d;
  int fresh = wd_verdict(v, WD_ANCESTRY_SKB, &l->key[0], wd_cached(&l->key[0], v->generation), f,
                         &local, &d);
  if (d.allow) {
    wd_count(hook, d.reason);
    if (fresh) wd_emit(hook, dir, &local, f, &d);
    return 1;
  }
  /* A host process's packet leaving by the loopback device stays on the node: the lockdown keeps
   * the node off the world, and nothing of this reaches it, so it does not bar the packet as a
   * reply (a host service answering a client on a world-looking address of the node's own:
   * 169.254.169.254 on lo). Pods get no such exemption: a pod answering the world is what the
   * lockdown refuses, and tests model the world on a pod's loopback. */
  if (d.reason != WD_REASON_DENY_POOL_LOCKDOWN || (stays_local && wd_local_is_host(v))) {
    struct wd_decision rd;
    wd_verdict(v, WD_ANCESTRY_SKB, &l->key[1], wd_cached(&l->key[1], v->generation), f, &local,
               &rd);
    if (rd.allow) {
      wd_count(hook, rd.reason);
      return 1;
    }
  }
  wd_count(hook, d.reason);
  wd_emit(hook, dir, &local, f, &d);
  return 0;
}

/* Whether the pod may answer flow `f` that a world address opened (an ingress verdict with
 * reply_barred): unless the node-pool lockdown refuses the pod's egress to the peer's address and
 * port (that egress verdict, cached like any other, into `*rd`; its key made in `*rk`). */
static __always_inline int wd_world_reply_ok(const struct wd_view* v, const struct wd_flow* f,
                                             struct wd_verdict_key* rk, struct wd_local* local,
                                             struct wd_decision* rd) {
  wd_verdict_key_of(rk, v->self, f, WD_DIR_EGRESS);
  wd_verdict(v, WD_ANCESTRY_SKB, rk, wd_cached(rk, v->generation), f, local, rd);
  return rd->allow || rd->reason != WD_REASON_DENY_POOL_LOCKDOWN;
}

/* Anything else (UDP, ICMP, TCP without a socket): a flow admitted under the current generation
 * passes on its exact ports (wd_ct). A new flow takes this direction's verdict; a flow of an
 * earlier generation is re-checked in the direction that admitted it. A conntrack entry is a
 * promise that the replies pass: a flow a world address opened gets none unless the lockdown
 * lets the pod answer it, so an inbound packet alone (forged or not) never opens a way out. */
static __always_inline int wd_skb_tracked(const struct wd_view* v, const struct wd_flow* f,
                                          __u8 hook, __u8 dir) {
  struct wd_ct_key ck;
  wd_ct_key_of(&ck, v->self, f);
  struct wd_ct_value* cv = bpf_map_lookup_elem(&wd_ct, &ck);
  __u8 origin = dir;
  if (cv) {
    if (cv->generation == v->generation) {
      wd_count(hook, WD_REASON_ALLOW_TRACKED);
      return 1;
    }
    origin = cv->origin;
  }
  struct wd_verdict_key k;
  wd_verdict_key_of(&k, v->self, f, origin);
  struct wd_local local = {};
  struct wd_decision d;
  int fresh = wd_verdict(v, WD_ANCESTRY_SKB, &k, wd_cached(&k, v->generation), f, &local, &d);
  if (d.allow && d.reply_barred) {
    struct wd_decision rd;
    if (!wd_world_reply_ok(v, f, &k, &local, &rd)) { /* k is not needed any more */
      if (dir == WD_DIR_EGRESS) {
        d = rd; /* the pod's answer to the world: refused by the lockdown */
      } else {
        /* The inbound packet itself passes; nothing is tracked for the pod to answer with. */
        wd_count(hook, d.reason);
        if (cv) bpf_map_delete_elem(&wd_ct, &ck);
        if (fresh) wd_emit(hook, dir, &local, f, &d);
        return 1;
      }
    }
  }
  wd_count(hook, d.reason);
  if (d.allow) {
    struct wd_ct_value nv = {};
    nv.generation = v->generation;
    nv.origin = origin;
    bpf_map_update_elem(&wd_ct, &ck, &nv, BPF_ANY);
    if (!cv && fresh) wd_emit(hook, dir, &local, f, &d);
    return 1;
  }
  if (cv) bpf_map_delete_elem(&wd_ct, &ck);
  wd_emit(hook, dir, &local, f, &d);
  return 0;
}

/* A packet refused before any verdict (one that cannot be parsed): counted, and reported as the
 * local endpoint's (found on the live copy of the tables). */
static __always_inline int wd_refuse(const struct wd_view* v, __u8 hook, __u8 dir,
                                     const struct wd_flow* f, __u8 reason) {
  struct wd_local local = {};
  wd_find_local_live(v, &local);
  struct wd_decision d = {.allow = 0, .reason = reason, .remote_identity = WD_ID_NONE};
  wd_count(hook, reason);
  wd_emit(hook, dir, &local, f, &d);
  return 0;
}

/* The slow path: everything but a packet of an admitted TCP connection (decisions, events,
 * conntrack), in two global functions (BPF-to-BPF calls the verifier checks once each, on their
 * own): the fast path in wd_skb stays a short run of instructions, the decision code is not
 * verified again for every way a packet can reach it, and each path has a stack frame of its
 * own. They look up again what they need (the configuration, the verdicts of `l`'s keys): only
 * values, not pointers, cross into a global function. */

/* A packet of a TCP socket that wd_vcache did not admit. */
__noinline int wd_skb_tcp(struct __sk_buff* skb, struct wd_packet* p, struct wd_tcp_lookup* l,
                          __u32 dir, __u32 tcp) {
  const struct wd_config* cfg = wd_cfg();
  if (!skb || !p || !l || !cfg) return 0;
  __u8 hook = dir == WD_DIR_EGRESS ? WD_HOOK_EGRESS : WD_HOOK_INGRESS;
  struct wd_view v = {cfg, skb, p->self, cfg->generation, cfg->active};
  if (tcp == WD_TCP_LISTENER) {
    const struct wd_verdict_key* k = &l->key[0];
    return wd_admit_new(&v, WD_ANCESTRY_SKB, hook, k, wd_vcache_hash(k, cfg->vcache_seed), &p->flow,
                        0);
  }
  int stays_local = dir == WD_DIR_EGRESS && skb->ifindex == WD_LOOPBACK_IFINDEX;
  return wd_skb_connection(&v, &p->flow, l, hook, dir, stays_local);
}

/* Anything else: UDP, ICMP, TCP without a socket, and what cannot be parsed. */
__noinline int wd_skb_other(struct __sk_buff* skb, struct wd_packet* p, __u32 dir,
                            __u32 malformed) {
  const struct wd_config* cfg = wd_cfg();
  if (!skb || !p || !cfg) return 0;
  __u8 hook = dir == WD_DIR_EGRESS ? WD_HOOK_EGRESS : WD_HOOK_INGRESS;
  struct wd_view v = {cfg, skb, bpf_skb_cgroup_id(skb), cfg->generation, cfg->active};
  if (malformed) return wd_refuse(&v, hook, dir, &p->flow, WD_REASON_DENY_MALFORMED);
  return wd_skb_tracked(&v, &p->flow, hook, dir);
}

/* ---- connect and sendmsg: the same egress decision, before any packet exists ---------------- */

/* Whether the pod's egress policy admits the gateway (a gateway pod's address, TCP, its mTLS
 * port), as if it connected there: then the connect goes to the forwarder, its original
 * destination remembered on the socket. A verdict like any other (cached under the gateway's
 * key). Only a known pod's own policy counts (not a host process, not an unknown pod). A global
 * function: verified once, on its own stack frame. */
__noinline int wd_fwd_redirect(struct bpf_sock_addr* ctx, const struct wd_flow* world) {
  const struct wd_config* cfg = wd_cfg();
  if (!ctx || !world || !cfg) return 0;
  struct wd_view v = {cfg, ctx, bpf_get_current_cgroup_id(), cfg->generation, cfg->active};
  struct wd_flow g = {};
  g.family = cfg->gw_family;
  g.protocol = WD_IPPROTO_TCP;
  g.remote_port = cfg->gw_port;
  __builtin_memcpy(g.remote_addr, cfg->gw_addr, 16);
  struct wd_verdict_key gk;
  wd_verdict_key_of(&gk, v.self, &g, WD_DIR_EGRESS);
  struct wd_local local = {};
  struct wd_decision d;
  wd_verdict(&v, WD_ANCESTRY_CURRENT, &gk, wd_cached(&gk, v.generation), &g, &local, &d);
  if (!d.allow || (d.reason != WD_REASON_ALLOW_POLICY && d.reason != WD_REASON_ALLOW_NOT_ISOLATED))
    return 0;
  struct wd_fwd_record rec = {};
  rec.cgroup_id = local.cgroup_id;
  rec.cookie = bpf_get_socket_cookie(ctx);
  rec.identity = local.identity;
  rec.orig_port = world->remote_port;
  rec.orig_family = WD_AF_INET;
  __builtin_memcpy(rec.orig_addr, world->remote_addr, 4);
  if (!wd_fwd_remember(ctx->sk, &rec)) return 0;
  __u32 a;
  __builtin_memcpy(&a, cfg->fwd_addr, 4);
  ctx->user_ip4 = a;
  ctx->user_port = bpf_htons(cfg->fwd_port);
  return 1;
}

/* `v4_ctx`: the program is connect4's or sendmsg4's (its context has user_ip4). */
static __always_inline int wd_sock_addr(struct bpf_sock_addr* ctx, __u8 hook, __u8 family,
                                        const __u8* addr, int v4_ctx) {
  const struct wd_config* cfg = wd_cfg();
  if (!cfg || !cfg->configured) {
    wd_count(hook, WD_REASON_DENY_NOT_CONFIGURED);
    return 0;
  }
  __u8 proto = ctx->protocol;
  if (proto != WD_IPPROTO_TCP && proto != WD_IPPROTO_UDP) return 1;

  struct wd_flow f = {};
  f.family = family;
  f.protocol = proto;
  f.remote_port = bpf_ntohs((__u16)ctx->user_port);
  __builtin_memcpy(f.remote_addr, addr, family == WD_AF_INET ? 4 : 16);
  wd_unspecified_to_loopback(&f);
  struct bpf_sock* sk = ctx->sk;
  if (sk) f.local_port = (__u16)sk->src_port;

  struct wd_view v = {cfg, ctx, bpf_get_current_cgroup_id(), cfg->generation, cfg->active};
  /* A UDP reply from a bound socket to a peer whose request was admitted on ingress. */
  if (f.local_port) {
    struct wd_ct_key ck;
    wd_ct_key_of(&ck, v.self, &f);
    struct wd_ct_value* cv = bpf_map_lookup_elem(&wd_ct, &ck);
    if (cv && cv->generation == v.generation) {
      wd_count(hook, WD_REASON_ALLOW_TRACKED);
      return 1;
    }
  }

  /* The egress verdict, cached: the connect's SYN then needs no decision either. Denials
   * always, and new allowed (pod, peer, port) verdicts once, make events (the local port is
   * not chosen yet at connect: 0). */
  struct wd_verdict_key k;
  wd_verdict_key_of(&k, v.self, &f, WD_DIR_EGRESS);
  __u64 h = wd_vcache_hash(&k, cfg->vcache_seed);
  if (wd_vcache_allows(&k, h, v.generation)) {
    wd_count(hook, WD_REASON_ALLOW_TRACKED);
    return 1;
  }
  int fwd = v4_ctx && hook == WD_HOOK_CONNECT && proto == WD_IPPROTO_TCP &&
            wd_fwd_takes(cfg, f.remote_port);
  return wd_admit_new(&v, WD_ANCESTRY_CURRENT, hook, &k, h, &f, fwd ? ctx : 0);
}

SEC("cgroup/connect4")
int wd_connect4(struct bpf_sock_addr* ctx) {
  __u32 a = ctx->user_ip4;
  return wd_sock_addr(ctx, WD_HOOK_CONNECT, WD_AF_INET, (const __u8*)&a, 1);
}

/* ---- the node forwarder (warden_forward.h) --------------------------------------------------- */

/* At sockops: a redirected connect's record by its local end, before the SYN leaves. */
SEC("sockops")
int wd_sockops(struct bpf_sock_ops* ops) {
  if (ops->op == WD_SOCKOPS_TCP_CONNECT_CB) wd_fwd_publish(ops);
  return 1;
}

/* getpeername on a redirected socket: the peer the application connected to. */
SEC("cgroup/getpeername4")
int wd_getpeername4(struct bpf_sock_addr* ctx) {
  wd_fwd_restore(ctx);
  return 1;
}

SEC("cgroup/sendmsg4")
int wd_sendmsg4(struct bpf_sock_addr* ctx) {
  __u32 a = ctx->user_ip4;
  return wd_sock_addr(ctx, WD_HOOK_SENDMSG, WD_AF_INET, (const __u8*)&a, 1);
}

static __always_inline int wd_sock_addr6(struct bpf_sock_addr* ctx, __u8 hook) {
  __u32 a[4];
  a[0] = ctx->user_ip6[0];
  a[1] = ctx->user_ip6[1];
  a[2] = ctx->user_ip6[2];
  a[3] = ctx->user_ip6[3];
  /* An IPv4-mapped address (::ffff:a.b.c.d) on a dual-stack socket sends IPv4. */
  if (a[0] == 0 && a[1] == 0 && a[2] == bpf_htonl(0xffff))
    return wd_sock_addr(ctx, hook, WD_AF_INET, (const __u8*)&a[3], 0);
  return wd_sock_addr(ctx, hook, WD_AF_INET6, (const __u8*)a, 0);
}

SEC("cgroup/connect6")
int wd_connect6(struct bpf_sock_addr* ctx) { return wd_sock_addr6(ctx, WD_HOOK_CONNECT); }

SEC("cgroup/sendmsg6")
int wd_sendmsg6(struct bpf_sock_addr* ctx) { return wd_sock_addr6(ctx, WD_HOOK_SENDMSG); }

/* ---- the second line: the node side of each pod's network interface ------------------------ */

/* Decides direction `dir` of flow `f` for the interface's pod `local` on the live copy of the
 * tables (the same wd_decide as the first line: the lockdown, then NetworkPolicy by address).
 * A function of its own, shared by both directions' calls. Without the first line's loopback
 * exemption (wd_decide_on): loopback traffic never crosses a pod's interface (the kernel keeps
 * 127.0.0.0/8 and ::1 on the lo device of the namespace), so a packet carrying such an address
 * here was forged (a packet socket, a raw socket with its own headers) and is judged as what its
 * address is to the tables, a world address: a default-pool node refuses it (pool-lockdown). */
static __noinline int wd_if_decide(const struct wd_view* v, const struct wd_local* local, __u32 dir,
                                   const struct wd_flow* f, struct wd_decision* d) {
  __u16 port = dir == WD_DIR_EGRESS ? f->remote_port : f->local_port;
  if (v->active) {
    struct wd_tables t = wd_tables_b();
    wd_decide(&t, v->cfg, local, dir, f->family, f->remote_addr, f->protocol, port, d);
  } else {
    struct wd_tables t = wd_tables_a();
    wd_decide(&t, v->cfg, local, dir, f->family, f->remote_addr, f->protocol, port, d);
  }
  return 0;
}

/* A refusal at an interface: counted, and an event of the interface's pod. */
static __always_inline int wd_if_refuse(__u8 hook, __u8 dir, const struct wd_local* local,
                                        const struct wd_flow* f, __u8 reason, __u32 remote_identity,
                                        __u32 ifindex) {
  struct wd_decision d = {.allow = 0, .reason = reason, .remote_identity = remote_identity};
  wd_count(hook, reason);
  wd_emit_at(hook, dir, local, f, &d, ifindex);
  return 0;
}

/* Everything the interface fast path did not admit, in this order:
 *   1. the interface's pod (wd_ifaces; an interface it does not know: refused as unknown-pod);
 *   2. a packet that cannot be parsed: refused (malformed);
 *   3. IPv6 neighbour discovery and MLD on the link: pass;
 *   4. the pod's end must be one of its own addresses: the source of what leaves it
 *      (spoofed-source), the destination of what comes to it (not-pod-address);
 *   5. a later fragment passes only behind an admitted first one (fragment);
 *   6. an ICMP error is judged as a packet of the flow it quotes;
 *   7. the verdict of the packet's own direction (lockdown first, then NetworkPolicy), else,
 *      unless the packet opens a TCP connection or the lockdown refused it, the verdict of the
 *      reverse direction (a reply); a refused packet that a packet socket wrote is reported as
 *      packet-socket.
 * What passes is remembered: an admitted first fragment in wd_frags, an allowing verdict in
 * wd_ifcache (not one about a world address seen coming in: it must not admit replies).
 * A global function (verified once, on its own); only values cross into it. */
__noinline int wd_if_slow(struct __sk_buff* skb, struct wd_if_packet* p, __u32 dir) {
  const struct wd_config* cfg = wd_cfg();
  if (!skb || !p || !cfg) return 0;
  __u8 hook = dir == WD_DIR_EGRESS ? WD_HOOK_IF_EGRESS : WD_HOOK_IF_INGRESS;
  __u32 ifindex = skb->ifindex;
  struct wd_flow* f = &p->flow;
  struct wd_view v = {cfg, skb, 0, cfg->generation, cfg->active};
  struct wd_local local = {};
  struct wd_iface* ifc =
      bpf_map_lookup_elem(cfg->active ? (void*)&wd_ifaces_b : (void*)&wd_ifaces_a, &ifindex);
  if (!ifc) return wd_if_refuse(hook, dir, &local, f, WD_REASON_DENY_UNKNOWN_POD, 0, ifindex);
  local.cgroup_id = ifc->cgroup_id;
  local.identity = ifc->identity;
  local.isolated = ifc->isolated;
  local.flags = ifc->flags;
  local.kind = WD_LOCAL_POD;
  local.resolved = 1;
  if (p->parsed != WD_PARSED)
    return wd_if_refuse(hook, dir, &local, f, WD_REASON_DENY_MALFORMED, 0, ifindex);
  if (wd_link_message(ifc, f)) {
    wd_count(hook, WD_REASON_ALLOW_LINK_LOCAL);
    return 1;
  }
  if (!wd_iface_owns(ifc, f->family, f->local_addr))
    return wd_if_refuse(
        hook, dir, &local, f,
        dir == WD_DIR_EGRESS ? WD_REASON_DENY_SPOOFED_SOURCE : WD_REASON_DENY_NOT_POD_ADDRESS, 0,
        ifindex);
  if (p->frag.kind != WD_FRAG_NONE) wd_frag_key_of(&p->key.frag, ifindex, f, &p->frag, dir);
  if (p->frag.kind == WD_FRAG_LATER) {
    struct wd_frag_value* fv = bpf_map_lookup_elem(&wd_frags, &p->key.frag);
    if (fv && fv->generation == v.generation) {
      wd_count(hook, WD_REASON_ALLOW_TRACKED);
      return 1;
    }
    return wd_if_refuse(hook, dir, &local, f, WD_REASON_DENY_FRAGMENT, 0, ifindex);
  }
  int quoted = wd_icmp_error(f) && wd_icmp_quoted_flow(skb, p->l4_off, dir, f);

  struct wd_decision d;
  wd_if_decide(&v, &local, dir, f, &d);
  /* On a gateway node the lockdown lets the gateway's pods reach any world address on TCP 80 and
   * 443: there, a world-bound packet must also belong to a connection the first line admitted,
   * i.e. have been sent by one of the pod's own sockets (on a default-pool node only the
   * allowances let anything out, whatever sent it). Not cached: every such packet is checked. */
  int needs_socket = d.allow && d.world_egress && cfg->pool == WD_POOL_GATEWAY;
  if (needs_socket && !wd_sent_by_pod_socket(skb, cfg, ifc->cgroup_id)) {
    d.allow = 0;
    d.reason = WD_REASON_DENY_POOL_LOCKDOWN;
  }
  __u8 by = dir;
  if (!d.allow && !wd_opens_connection(f) &&
      !(dir == WD_DIR_EGRESS && d.reason == WD_REASON_DENY_POOL_LOCKDOWN)) {
    struct wd_decision rd;
    wd_if_decide(&v, &local, dir ^ 1, f, &rd);
    /* A reply-barred verdict (ingress from a world address) never admits what the pod sends:
     * that is the lockdown's to decide, and it refused or NetworkPolicy did. */
    if (rd.allow && !rd.reply_barred) {
      d = rd;
      by = dir ^ 1;
    }
  }
  if (!d.allow) {
    __u8 reason = d.reason;
    if (dir == WD_DIR_EGRESS && wd_from_packet_socket(skb)) reason = WD_REASON_DENY_PACKET_SOCKET;
    return wd_if_refuse(hook, dir, &local, f, reason, d.remote_identity, ifindex);
  }
  wd_count(hook, d.reason);
  if (p->frag.kind == WD_FRAG_FIRST) {
    struct wd_frag_value fv = {v.generation, 0};
    bpf_map_update_elem(&wd_frags, &p->key.frag, &fv, BPF_ANY);
  } else if (!quoted && !needs_socket && !d.reply_barred && wd_if_cacheable(f, &p->frag)) {
    struct wd_ifc_key* k = &p->key.cache;
    wd_ifc_key_of(k, ifindex, f, by);
    wd_ifcache_put(k, wd_ifcache_hash(k, cfg->vcache_seed), v.generation);
  }
  return 1;
}

/* The interface fast path: a whole packet from (or to) one of the pod's addresses whose verdict
 * (its own direction's, or for anything but a connection's first SYN the reverse one's) is in
 * wd_ifcache passes with no call beyond the program's own entry and return. The cache key holds
 * the pod's address, so a hit needs no look at the interface's entry. */
static __always_inline int wd_if(struct __sk_buff* skb, __u8 dir) {
  __u8 hook = dir == WD_DIR_EGRESS ? WD_HOOK_IF_EGRESS : WD_HOOK_IF_INGRESS;
  const struct wd_config* cfg = wd_cfg();
  if (!cfg || !cfg->configured) {
    wd_count(hook, WD_REASON_DENY_NOT_CONFIGURED);
    return WD_TC_DROP;
  }
  struct wd_if_packet p;
  p.parsed = wd_parse(skb, WD_ETH_HLEN, dir == WD_DIR_EGRESS, &p.flow, &p.frag, &p.l4_off);
  if (p.parsed == WD_PARSE_NOT_IP) return WD_TC_PASS; /* ARP and the like: not ours */
  if (p.parsed == WD_PARSED && wd_if_cacheable(&p.flow, &p.frag)) {
    const struct wd_flow* f = &p.flow;
    __u32 generation = cfg->generation;
    int opens = wd_opens_connection(f);
    int reply_likely = !opens && (dir == WD_DIR_EGRESS ? f->remote_port > f->local_port
                                                       : f->local_port > f->remote_port);
    struct wd_ifc_key* k = &p.key.cache;
    wd_ifc_key_of(k, skb->ifindex, f, reply_likely ? dir ^ 1 : dir);
    if (wd_ifcache_allows(k, wd_ifcache_hash(k, cfg->vcache_seed), generation)) {
      wd_count(hook, WD_REASON_ALLOW_TRACKED);
      return WD_TC_PASS;
    }
    if (!opens) {
      wd_ifc_key_reverse(k, f);
      if (wd_ifcache_allows(k, wd_ifcache_hash(k, cfg->vcache_seed), generation)) {
        wd_count(hook, WD_REASON_ALLOW_TRACKED);
        return WD_TC_PASS;
      }
    }
  }
  return wd_if_slow(skb, &p, dir) ? WD_TC_PASS : WD_TC_DROP;
}

/* At the tc ingress hook of the node side of a pod's interface: what the pod sends. */
SEC("tc")
int wd_if_egress(struct __sk_buff* skb) { return wd_if(skb, WD_DIR_EGRESS); }

/* At its tc egress hook: what goes to the pod. */
SEC("tc")
int wd_if_ingress(struct __sk_buff* skb) { return wd_if(skb, WD_DIR_INGRESS); }
