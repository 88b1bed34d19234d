/* What was decided before, keyed from the local socket's side by the socket's own cgroup:
 *   wd_verdicts: every decided verdict (allow and deny) of the current generation, per (cgroup,
 *     direction, peer, the port NetworkPolicy looks at);
 *   wd_vcache: a per-CPU, direct-mapped copy of allowing wd_verdicts entries, looked up without
 *     any call (warden_vcache.h: the hash and check, shared with user space);
 *   wd_ct: flows admitted once, by their exact ports, for packets without a TCP socket. */
#ifndef WARDEN_CACHES_H
#define WARDEN_CACHES_H

#include "warden_vcache.h"
#include "warden_verdict.h"

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

/* Swaps two keys word by word, through registers (no third key on the stack). */
static __always_inline void wd_verdict_key_swap(struct wd_verdict_key* a,
                                                struct wd_verdict_key* b) {
  __u64* x = (__u64*)a;
  __u64* y = (__u64*)b;
  for (int i = 0; i < (int)(sizeof(*a) / 8); i++) {
    __u64 w = x[i];
    x[i] = y[i];
    y[i] = w;
  }
}

/* k's wd_verdicts entry if it is of `generation`, else NULL. */
static __always_inline struct wd_verdict_value* wd_cached(const struct wd_verdict_key* k,
                                                          __u32 generation) {
  struct wd_verdict_value* v = bpf_map_lookup_elem(&wd_verdicts, k);
  return v && v->generation == generation ? v : 0;
}

/* A cached verdict into `d` and the local endpoint it was decided for into `local` (its cgroup
 * and identity: what events name). */
static __always_inline void wd_cached_decision(const struct wd_verdict_value* v,
                                               struct wd_decision* d, struct wd_local* local) {
  d->allow = v->allow;
  d->reason = v->reason;
  d->reply_barred = v->reply_barred;
  d->remote_identity = v->remote_identity;
  local->cgroup_id = v->pod_cgroup_id;
  local->identity = v->local_identity;
}

static __always_inline void wd_cache_decision(const struct wd_verdict_key* k,
                                              const struct wd_local* local,
                                              const struct wd_decision* d, __u32 generation) {
  struct wd_verdict_value v = {};
  v.pod_cgroup_id = local->cgroup_id;
  v.local_identity = local->identity;
  v.remote_identity = d->remote_identity;
  v.generation = generation;
  v.allow = d->allow;
  v.reason = d->reason;
  v.reply_barred = d->reply_barred;
  bpf_map_update_elem(&wd_verdicts, k, &v, BPF_ANY);
}

/* Whether cached verdict `c` of key `k` admits a packet of a TCP connection going direction
 * `dir`: an allowing verdict of the packet's own direction, or of the other one (the packet is a
 * reply) unless that verdict is barred from standing for replies. */
static __always_inline int wd_cached_admits(const struct wd_verdict_value* c,
                                            const struct wd_verdict_key* k, __u8 dir) {
  return c && c->allow && (!c->reply_barred || k->direction == dir);
}

/* Whether k's wd_vcache slot (h = wd_vcache_hash(k, seed)) holds an allowing verdict of
 * `generation`: the whole key, the generation and the check must match. */
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

/* Copies an allowing verdict of k into its wd_vcache slot. */
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

#endif /* WARDEN_CACHES_H */
