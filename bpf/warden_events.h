/* What the programs report: a counter per (hook, reason) in wd_counters, and events in the
 * wd_events ring buffer, which the agent drains every tick. */
#ifndef WARDEN_EVENTS_H
#define WARDEN_EVENTS_H

#include "warden_verdict.h"

static __always_inline void wd_count(__u8 hook, __u8 reason) {
  __u32 idx = (__u32)hook * WD_REASON_COUNT + reason;
  __u64* c = bpf_map_lookup_elem(&wd_counters, &idx);
  if (c) *c += 1;
}

/* One event: hook `hook` judged direction `dir` of flow `f` of `local` as `d` says. */
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

#endif /* WARDEN_EVENTS_H */
