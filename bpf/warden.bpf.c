// SPDX-License-Identifier: GPL-2.0
/* Warden's cgroup programs, attached to a node's cgroup: every socket of every process on the
 * node (pods and host processes) passes through them.
 *   cgroup_skb/egress, cgroup_skb/ingress: the verdict on every packet (conntrack for flows
 *     already admitted, re-checked when the policy generation changes).
 *   cgroup/connect4|6, cgroup/sendmsg4|6: refuse a denied TCP connect or UDP send at once, so
 *     the application sees EPERM instead of a time-out. */
#include "vmlinux.h"

#include <bpf/bpf_endian.h>
#include <bpf/bpf_helpers.h>

#include "warden_vcache.h"
#include "warden_verdict.h"

char LICENSE[] SEC("license") = "GPL";

static __always_inline const struct wd_config* wd_cfg(void) {
  __u32 zero = 0;
  return bpf_map_lookup_elem(&wd_config, &zero);
}

static __always_inline void wd_count(__u8 hook, __u8 reason) {
  __u32 idx = (__u32)hook * WD_REASON_COUNT + reason;
  __u64* c = bpf_map_lookup_elem(&wd_counters, &idx);
  if (c) *c += 1;
}

static __always_inline void wd_emit(__u8 hook, __u8 dir, const struct wd_local* local,
                                    const struct wd_flow* f, const struct wd_decision* d) {
  struct wd_event* e = bpf_ringbuf_reserve(&wd_events, sizeof(*e), 0);
  if (!e) return;
  e->timestamp_ns = bpf_ktime_get_ns();
  e->cgroup_id = local->cgroup_id;
  e->local_identity = local->identity;
  e->remote_identity = d->remote_identity;
  e->hook = hook;
  e->verdict = d->allow ? WD_VERDICT_ALLOW : WD_VERDICT_DENY;
  e->reason = d->reason;
  e->family = f->family;
  e->protocol = f->protocol;
  e->direction = dir;
  e->local_port = f->local_port;
  e->remote_port = f->remote_port;
  e->pad[0] = e->pad[1] = 0;
  __builtin_memcpy(e->local_addr, f->local_addr, 16);
  __builtin_memcpy(e->remote_addr, f->remote_addr, 16);
  /* Waking the reader costs a self-IPI per event (measured: the largest cost of a short
   * connection). The agent polls every tick anyway; wake it only when the ring fills up. */
  __u64 queued = bpf_ringbuf_query(&wd_events, BPF_RB_AVAIL_DATA);
  bpf_ringbuf_submit(e, queued > WD_EVENTS_WAKEUP_BYTES ? BPF_RB_FORCE_WAKEUP : BPF_RB_NO_WAKEUP);
}

static __always_inline void wd_ct_key_of(struct wd_ct_key* k, __u64 cgroup_id,
                                         const struct wd_flow* f) {
  __builtin_memset(k, 0, sizeof(*k));
  k->cgroup_id = cgroup_id;
  k->family = f->family;
  k->protocol = f->protocol;
  k->local_port = f->local_port;
  k->remote_port = f->remote_port;
  __builtin_memcpy(k->remote_addr, f->remote_addr, 16);
}

static __always_inline void wd_verdict_key_of(struct wd_verdict_key* k, __u64 cgroup_id,
                                              const struct wd_flow* f, __u8 dir) {
  __builtin_memset(k, 0, sizeof(*k));
  k->cgroup_id = cgroup_id;
  k->family = f->family;
  k->protocol = f->protocol;
  k->direction = dir;
  k->port = dir == WD_DIR_EGRESS ? f->remote_port : f->local_port;
  __builtin_memcpy(k->remote_addr, f->remote_addr, 16);
}

/* A cached verdict of the current generation, or NULL. */
static __always_inline struct wd_verdict_value* wd_cached(const struct wd_config* cfg,
                                                          const struct wd_verdict_key* k) {
  struct wd_verdict_value* v = bpf_map_lookup_elem(&wd_verdicts, k);
  return v && v->generation == cfg->generation ? v : 0;
}

/* The per-CPU verdict cache (struct wd_vcache_slot, warden_vcache.h). */
static __always_inline int wd_vcache_allows(const struct wd_verdict_key* k, __u64 h,
                                            __u32 generation) {
  __u32 idx = wd_vcache_index(h);
  struct wd_vcache_slot* s = bpf_map_lookup_elem(&wd_vcache, &idx);
  if (!s) return 0;
  const __u64* a = (const __u64*)k;
  const __u64* b = (const __u64*)&s->key;
  return s->check == wd_vcache_check(h, generation) && s->generation == generation &&
         a[0] == b[0] && a[1] == b[1] && a[2] == b[2] && a[3] == b[3];
}

static __always_inline void wd_vcache_put(const struct wd_verdict_key* k, __u64 h,
                                          __u32 generation) {
  __u32 idx = wd_vcache_index(h);
  struct wd_vcache_slot* s = bpf_map_lookup_elem(&wd_vcache, &idx);
  if (!s) return;
  /* Invalid while written; the check last (the barriers keep the compiler from moving the
   * stores across it). The check alone keeps a half-written slot from matching; this order
   * only makes such a slot a miss for sure. */
  *(volatile __u64*)&s->check = 0;
  __asm__ __volatile__("" ::: "memory");
  __builtin_memcpy(&s->key, k, sizeof(*k));
  s->generation = generation;
  s->pad = 0;
  __asm__ __volatile__("" ::: "memory");
  *(volatile __u64*)&s->check = wd_vcache_check(h, generation);
}

/* Decides k's direction for `local` and caches the verdict. */
static __always_inline void wd_decide_cached(const struct wd_config* cfg,
                                             const struct wd_local* local,
                                             const struct wd_verdict_key* k,
                                             const struct wd_flow* f, struct wd_decision* d) {
  WD_DECIDE(cfg, local, k->direction, f->family, f->remote_addr, f->protocol, k->port, d);
  struct wd_verdict_value nv = {};
  nv.pod_cgroup_id = local->cgroup_id;
  nv.local_identity = local->identity;
  nv.remote_identity = d->remote_identity;
  nv.generation = cfg->generation;
  nv.allow = d->allow;
  nv.reason = d->reason;
  bpf_map_update_elem(&wd_verdicts, k, &nv, BPF_ANY);
}

/* The verdict of direction `dir` (cached, or decided now), into `d`; `local` is resolved on
 * first need. Evaluates to 1 when it was decided now. */
#define WD_VERDICT(cfg, k, f, d, local, resolved, RESOLVE) \
  ({                                                       \
    int fresh_ = 0;                                        \
    struct wd_verdict_value* c_ = wd_cached((cfg), (k));   \
    if (c_) {                                              \
      (d)->allow = c_->allow;                              \
      (d)->reason = c_->reason;                            \
      (d)->remote_identity = c_->remote_identity;          \
      (local)->cgroup_id = c_->pod_cgroup_id;              \
      (local)->identity = c_->local_identity;              \
    } else {                                               \
      if (!(resolved)) {                                   \
        RESOLVE;                                           \
        (resolved) = 1;                                    \
      }                                                    \
      wd_decide_cached((cfg), (local), (k), (f), (d));     \
      fresh_ = 1;                                          \
    }                                                      \
    fresh_;                                                \
  })

#define WD_SKB_ANCESTOR(level) bpf_skb_ancestor_cgroup_id(skb, (level))
#define WD_SKB_RESOLVE(local, cfg, self)                                 \
  do {                                                                   \
    if ((cfg)->active) {                                                 \
      WD_FIND_LOCAL(local, cfg, &wd_endpoints_b, self, WD_SKB_ANCESTOR); \
    } else {                                                             \
      WD_FIND_LOCAL(local, cfg, &wd_endpoints_a, self, WD_SKB_ANCESTOR); \
    }                                                                    \
  } while (0)

/* What TCP socket the kernel matched this packet to:
 *   WD_TCP_CONNECTION: a connection (any TCP socket but a listener receiving). The packet is
 *     either its connection's own direction or a reply to it, so the reverse direction's verdict
 *     may admit it.
 *   WD_TCP_LISTENER: a listener receiving (a SYN, or the ACK completing a handshake): it opens
 *     a new connection and only its own (ingress) direction counts.
 *   0: no TCP socket (not TCP, or no socket: a reset to a closed port, say). */
#define WD_TCP_CONNECTION 1
#define WD_TCP_LISTENER 2
/* The packet's kernel sk_buff, for reading its socket through BTF (no helper call: the verifier
 * turns this kfunc into a register move). */
extern void* bpf_cast_to_kern_ctx(void* ctx) __ksym;

/* Also gives the socket's cgroup id (*cgroup_id, the same as bpf_skb_cgroup_id()). Everything is
 * read through the socket's BTF type, without a helper call (bpf_sk_fullsock and
 * bpf_skb_cgroup_id took two); see struct wd_vcache_slot for why calls count. */
static __always_inline int wd_tcp_socket(struct __sk_buff* skb, const struct wd_flow* f, __u8 dir,
                                         __u64* cgroup_id) {
  if (f->protocol != WD_IPPROTO_TCP) return 0;
  struct sk_buff* kskb = bpf_cast_to_kern_ctx(skb);
  struct sock* sk = kskb->sk;
  if (!sk) return 0;
  /* A full socket (not a request or time-wait socket), a TCP one (not a raw socket of protocol
   * TCP): what bpf_skc_to_tcp_sock() checks. */
  __u8 state = sk->__sk_common.skc_state;
  if (state == BPF_TCP_TIME_WAIT || state == BPF_TCP_NEW_SYN_RECV) return 0;
  if (sk->sk_protocol != WD_IPPROTO_TCP || sk->sk_type != SOCK_STREAM) return 0;
  *cgroup_id = sk->sk_cgrp_data.cgroup->kn->id;
  return dir == WD_DIR_INGRESS && state == BPF_TCP_LISTEN ? WD_TCP_LISTENER : WD_TCP_CONNECTION;
}

/* Everything but a packet of an admitted TCP connection: decisions, events, conntrack. A
 * function of its own (a BPF-to-BPF call), so the fast path in wd_skb stays a short run of
 * instructions instead of being spread through the decision code (15-20 KB when inlined). */
static __noinline int wd_skb_slow(struct __sk_buff* skb, const struct wd_flow* fp, __u32 dir,
                                  __u32 tcp) {
  __u8 hook = dir == WD_DIR_EGRESS ? WD_HOOK_EGRESS : WD_HOOK_INGRESS;
  const struct wd_config* cfg = wd_cfg();
  if (!cfg) return 0;
  struct wd_flow f = *fp;
  __u64 self = bpf_skb_cgroup_id(skb);
  __u8 rev = dir ^ 1;
  struct wd_local local = {};
  int resolved = 0;
  struct wd_decision d, rd;

  if (tcp == WD_TCP_LISTENER) {
    /* A connection being opened: its own verdict, cached per (peer, port) and generation, so
     * a new connection from a known peer costs one lookup and writes nothing. */
    struct wd_verdict_key k;
    wd_verdict_key_of(&k, self, &f, dir);
    int fresh = WD_VERDICT(cfg, &k, &f, &d, &local, resolved, WD_SKB_RESOLVE(&local, cfg, self));
    wd_count(hook, fresh || !d.allow ? d.reason : WD_REASON_ALLOW_TRACKED);
    if (fresh || !d.allow) wd_emit(hook, dir, &local, &f, &d);
    if (d.allow) wd_vcache_put(&k, wd_vcache_hash(&k, cfg->vcache_seed), cfg->generation);
    return d.allow ? 1 : 0;
  }
  if (tcp == WD_TCP_CONNECTION) {
    /* This direction's verdict, else the reverse one's (a reply). Cached verdicts first: a
     * client's replies arrive on a new local port each time, and must not cost a decision. */
    struct wd_verdict_key k, rk;
    wd_verdict_key_of(&k, self, &f, dir);
    wd_verdict_key_of(&rk, self, &f, rev);
    /* The fast path in wd_skb found neither direction's verdict allowing (cached under this
     * generation); look again, the entries may have changed since. */
    struct wd_verdict_value* own = wd_cached(cfg, &k);
    if (own && own->allow) {
      wd_count(hook, WD_REASON_ALLOW_TRACKED);
      return 1;
    }
    struct wd_verdict_value* rc = wd_cached(cfg, &rk);
    if (rc && rc->allow) {
      wd_count(hook, WD_REASON_ALLOW_TRACKED);
      return 1;
    }
    int fresh = WD_VERDICT(cfg, &k, &f, &d, &local, resolved, WD_SKB_RESOLVE(&local, cfg, self));
    if (d.allow) {
      wd_count(hook, d.reason);
      if (fresh) wd_emit(hook, dir, &local, &f, &d);
      return 1;
    }
    if (!rc) {
      WD_VERDICT(cfg, &rk, &f, &rd, &local, resolved, WD_SKB_RESOLVE(&local, cfg, self));
      if (rd.allow) {
        wd_count(hook, rd.reason);
        return 1;
      }
    }
    wd_count(hook, d.reason);
    wd_emit(hook, dir, &local, &f, &d);
    return 0;
  }

  /* Anything else (UDP, ICMP, TCP without a socket): a flow admitted under the current
   * generation passes on its exact ports. */
  struct wd_ct_key ck;
  wd_ct_key_of(&ck, self, &f);
  struct wd_ct_value* cv = bpf_map_lookup_elem(&wd_ct, &ck);
  __u8 origin = dir;
  if (cv) {
    if (cv->generation == cfg->generation) {
      wd_count(hook, WD_REASON_ALLOW_TRACKED);
      return 1;
    }
    origin = cv->origin; /* re-check the direction that admitted the flow */
  }
  struct wd_verdict_key k;
  wd_verdict_key_of(&k, self, &f, origin);
  int fresh = WD_VERDICT(cfg, &k, &f, &d, &local, resolved, WD_SKB_RESOLVE(&local, cfg, self));
  wd_count(hook, d.reason);
  if (d.allow) {
    struct wd_ct_value nv = {};
    nv.generation = cfg->generation;
    nv.origin = origin;
    bpf_map_update_elem(&wd_ct, &ck, &nv, BPF_ANY);
    if (!cv && fresh) wd_emit(hook, dir, &local, &f, &d);
    return 1;
  }
  if (cv) bpf_map_delete_elem(&wd_ct, &ck);
  wd_emit(hook, dir, &local, &f, &d);
  return 0;
}

static __always_inline int wd_skb(struct __sk_buff* skb, __u8 dir) {
  __u8 hook = dir == WD_DIR_EGRESS ? WD_HOOK_EGRESS : WD_HOOK_INGRESS;
  const struct wd_config* cfg = wd_cfg();
  if (!cfg || !cfg->configured) {
    wd_count(hook, WD_REASON_DENY_NOT_CONFIGURED);
    return 0;
  }
  struct wd_flow f;
  if (wd_parse_skb(skb, dir == WD_DIR_EGRESS, &f) < 0) return 1; /* not IP: not ours to judge */
  __u64 self = 0;
  int tcp = wd_tcp_socket(skb, &f, dir, &self);
  if (tcp == WD_TCP_LISTENER) {
    /* A connection being opened (a SYN, the ACK completing the handshake): its own verdict. */
    struct wd_verdict_key k;
    wd_verdict_key_of(&k, self, &f, dir);
    if (wd_vcache_allows(&k, wd_vcache_hash(&k, cfg->vcache_seed), cfg->generation)) {
      wd_count(WD_HOOK_INGRESS, WD_REASON_ALLOW_TRACKED);
      return 1;
    }
  }
  if (tcp == WD_TCP_CONNECTION) {
    /* The fast path, most packets of a TCP connection: this direction's verdict, or the
     * reverse one's (a reply), cached and allowing under the current generation. The likelier
     * one is looked up first: the service's port is usually the lower one, so a packet whose
     * higher port is the one its own direction's verdict is keyed by is likely a reply. */
    int reply_likely =
        dir == WD_DIR_EGRESS ? f.remote_port > f.local_port : f.local_port > f.remote_port;
    /* Both directions in the per-CPU cache first (no calls), then in wd_verdicts. */
    struct wd_verdict_key k, rk;
    wd_verdict_key_of(&k, self, &f, reply_likely ? dir ^ 1 : dir);
    __u64 h = wd_vcache_hash(&k, cfg->vcache_seed);
    if (wd_vcache_allows(&k, h, cfg->generation)) {
      wd_count(hook, WD_REASON_ALLOW_TRACKED);
      return 1;
    }
    rk = k;
    rk.direction ^= 1;
    rk.port = rk.direction == WD_DIR_EGRESS ? f.remote_port : f.local_port;
    __u64 rh = wd_vcache_hash(&rk, cfg->vcache_seed);
    if (wd_vcache_allows(&rk, rh, cfg->generation)) {
      wd_count(hook, WD_REASON_ALLOW_TRACKED);
      return 1;
    }
    struct wd_verdict_value* v = wd_cached(cfg, &k);
    if (v && v->allow) {
      wd_vcache_put(&k, h, cfg->generation);
      wd_count(hook, WD_REASON_ALLOW_TRACKED);
      return 1;
    }
    v = wd_cached(cfg, &rk);
    if (v && v->allow) {
      wd_vcache_put(&rk, rh, cfg->generation);
      wd_count(hook, WD_REASON_ALLOW_TRACKED);
      return 1;
    }
  }
  return wd_skb_slow(skb, &f, dir, tcp);
}

SEC("cgroup_skb/egress")
int wd_egress(struct __sk_buff* skb) { return wd_skb(skb, WD_DIR_EGRESS); }

SEC("cgroup_skb/ingress")
int wd_ingress(struct __sk_buff* skb) { return wd_skb(skb, WD_DIR_INGRESS); }

/* ---- connect and sendmsg: the same egress decision, before any packet exists ---------------- */

#define WD_CUR_ANCESTOR(level) bpf_get_current_ancestor_cgroup_id((level))
#define WD_CUR_RESOLVE(local, cfg, self)                                 \
  do {                                                                   \
    if ((cfg)->active) {                                                 \
      WD_FIND_LOCAL(local, cfg, &wd_endpoints_b, self, WD_CUR_ANCESTOR); \
    } else {                                                             \
      WD_FIND_LOCAL(local, cfg, &wd_endpoints_a, self, WD_CUR_ANCESTOR); \
    }                                                                    \
  } while (0)

static __always_inline int wd_sock_addr(struct bpf_sock_addr* ctx, __u8 hook, __u8 family,
                                        const __u8* addr) {
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
  struct bpf_sock* sk = ctx->sk;
  if (sk) f.local_port = (__u16)sk->src_port;

  __u64 self = bpf_get_current_cgroup_id();
  /* A UDP reply from a bound socket to a peer whose request was admitted on ingress. */
  if (f.local_port) {
    struct wd_ct_key ck;
    wd_ct_key_of(&ck, self, &f);
    struct wd_ct_value* cv = bpf_map_lookup_elem(&wd_ct, &ck);
    if (cv && cv->generation == cfg->generation) {
      wd_count(hook, WD_REASON_ALLOW_TRACKED);
      return 1;
    }
  }

  /* The egress verdict; cached, the connect's SYN then needs no decision either. */
  struct wd_local local = {};
  int resolved = 0;
  struct wd_decision d;
  struct wd_verdict_key k;
  wd_verdict_key_of(&k, self, &f, WD_DIR_EGRESS);
  __u64 h = wd_vcache_hash(&k, cfg->vcache_seed);
  if (wd_vcache_allows(&k, h, cfg->generation)) {
    wd_count(hook, WD_REASON_ALLOW_TRACKED);
    return 1;
  }
  int fresh = WD_VERDICT(cfg, &k, &f, &d, &local, resolved, WD_CUR_RESOLVE(&local, cfg, self));
  if (d.allow) wd_vcache_put(&k, h, cfg->generation);
  wd_count(hook, fresh || !d.allow ? d.reason : WD_REASON_ALLOW_TRACKED);
  /* Denials always, and new allowed (pod, peer, port) verdicts once (the local port is not
   * chosen yet at connect: 0). */
  if (!d.allow || fresh) wd_emit(hook, WD_DIR_EGRESS, &local, &f, &d);
  return d.allow ? 1 : 0;
}

SEC("cgroup/connect4")
int wd_connect4(struct bpf_sock_addr* ctx) {
  __u32 a = ctx->user_ip4;
  return wd_sock_addr(ctx, WD_HOOK_CONNECT, WD_AF_INET, (const __u8*)&a);
}

SEC("cgroup/sendmsg4")
int wd_sendmsg4(struct bpf_sock_addr* ctx) {
  __u32 a = ctx->user_ip4;
  return wd_sock_addr(ctx, WD_HOOK_SENDMSG, WD_AF_INET, (const __u8*)&a);
}

static __always_inline int wd_sock_addr6(struct bpf_sock_addr* ctx, __u8 hook) {
  __u32 a[4];
  a[0] = ctx->user_ip6[0];
  a[1] = ctx->user_ip6[1];
  a[2] = ctx->user_ip6[2];
  a[3] = ctx->user_ip6[3];
  /* An IPv4-mapped address (::ffff:a.b.c.d) on a dual-stack socket sends IPv4. */
  if (a[0] == 0 && a[1] == 0 && a[2] == bpf_htonl(0xffff))
    return wd_sock_addr(ctx, hook, WD_AF_INET, (const __u8*)&a[3]);
  return wd_sock_addr(ctx, hook, WD_AF_INET6, (const __u8*)a);
}

SEC("cgroup/connect6")
int wd_connect6(struct bpf_sock_addr* ctx) { return wd_sock_addr6(ctx, WD_HOOK_CONNECT); }

SEC("cgroup/sendmsg6")
int wd_sendmsg6(struct bpf_sock_addr* ctx) { return wd_sock_addr6(ctx, WD_HOOK_SENDMSG); }
