/* What the programs report: a counter per (hook, reason) in wd_counters, and events in the
 * wd_events ring buffer (at most so many per pod: wd_evlimit), which the agent drains every
 * tick. */
#ifndef WARDEN_EVENTS_H
#define WARDEN_EVENTS_H

#include "warden_verdict.h"

static __always_inline void wd_count(__u8 hook, __u8 reason) {
  __u32 idx = (__u32)hook * WD_REASON_COUNT + reason;
  __u64* c = bpf_map_lookup_elem(&wd_counters, &idx);
  if (c) *c += 1;
}

/* A token bucket of events per pod (wd_evlimit): whether `pod` may send one more event at `now`.
 * Returns how many of its events were held back since its last one, or -1 to hold this one
 * back too. Programs on several CPUs may race on one bucket: the limit is approximate, never
 * zero (a pod's first event always goes out). */
static __always_inline long wd_event_budget(__u64 pod, __u64 now) {
  struct wd_evlimit* b = bpf_map_lookup_elem(&wd_evlimit, &pod);
  if (!b) {
    struct wd_evlimit fresh = {now, WD_EVENTS_PER_POD_BURST - 1, 0};
    bpf_map_update_elem(&wd_evlimit, &pod, &fresh, BPF_ANY);
    return 0;
  }
  __u64 add = (now - b->last_ns) * WD_EVENTS_PER_POD_PER_S / 1000000000ULL;
  if (add) {
    __u64 tokens = b->tokens + add;
    b->tokens = tokens > WD_EVENTS_PER_POD_BURST ? WD_EVENTS_PER_POD_BURST : (__u32)tokens;
    b->last_ns = now;
  }
  if (!b->tokens) {
    __sync_fetch_and_add(&b->suppressed, 1);
    return -1;
  }
  b->tokens--;
  __u32 held = b->suppressed;
  b->suppressed = 0;
  return held;
}

/* One event: hook `hook` judged direction `dir` of flow `f` of `local` as `d` says; `ifindex`
 * the pod's interface for the interface programs (0 for the others). Rate-limited per pod. */
static __always_inline void wd_emit_at(__u8 hook, __u8 dir, const struct wd_local* local,
                                       const struct wd_flow* f, const struct wd_decision* d,
                                       __u32 ifindex) {
  __u64 now = bpf_ktime_get_ns();
  __u64 pod = local->cgroup_id ? local->cgroup_id : (1ULL << 63) | ifindex;
  long held = wd_event_budget(pod, now);
  if (held < 0) return;
  struct wd_event* e = bpf_ringbuf_reserve(&wd_events, sizeof(*e), 0);
  if (!e) return;
  e->timestamp_ns = now;
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
  e->ifindex = ifindex;
  e->suppressed = (__u32)held;
  /* Waking the reader costs a self-IPI per event (measured: the largest cost of a short
   * connection). The agent polls every tick anyway; wake it only when the ring fills up. */
  __u64 queued = bpf_ringbuf_query(&wd_events, BPF_RB_AVAIL_DATA);
  bpf_ringbuf_submit(e, queued > WD_EVENTS_WAKEUP_BYTES ? BPF_RB_FORCE_WAKEUP : BPF_RB_NO_WAKEUP);
}

static __always_inline void wd_emit(__u8 hook, __u8 dir, const struct wd_local* local,
                                    const struct wd_flow* f, const struct wd_decision* d) {
  wd_emit_at(hook, dir, local, f, d, 0);
}

#endif /* WARDEN_EVENTS_H */
