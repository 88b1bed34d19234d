/* Who is sending or receiving: the local endpoint, found from the socket's cgroup. A pod's
 * process may sit in a container cgroup below the pod's; the pod's cgroup is its ancestor at one
 * of wd_config.pod_levels, and wd_endpoints is keyed by it. */
#ifndef WARDEN_LOCAL_H
#define WARDEN_LOCAL_H

#include "warden_maps.h"

enum wd_local_kind { WD_LOCAL_POD = 0, WD_LOCAL_HOST = 1, WD_LOCAL_UNKNOWN_POD = 2 };

struct wd_local {
  __u64 cgroup_id; /* what events name: the pod's cgroup, or a host process's own */
  __u32 identity;
  __u8 isolated; /* WD_ISOLATED_* */
  __u8 flags;    /* WD_EP_* */
  __u8 kind;     /* enum wd_local_kind */
  __u8 resolved; /* 0 until wd_find_local filled the rest */
};

/* Where the socket's ancestor cgroups are read from: the packet's socket (cgroup_skb programs)
 * or the current task (connect and sendmsg programs). */
enum wd_ancestry { WD_ANCESTRY_SKB = 0, WD_ANCESTRY_CURRENT = 1 };

/* The id of the socket's ancestor cgroup at `level`; `ctx` is the program's context. */
static __always_inline __u64 wd_ancestor_cgroup_id(void* ctx, enum wd_ancestry from, int level) {
  if (from == WD_ANCESTRY_SKB) return bpf_skb_ancestor_cgroup_id(ctx, level);
  return bpf_get_current_ancestor_cgroup_id(level);
}

/* Fills `out` for the socket whose own cgroup is `self`: a pod (its endpoint in `endpoints`), an
 * unknown pod (below kubepods, in no known pod) or a host process. */
static __always_inline void wd_find_local(struct wd_local* out, const struct wd_config* cfg,
                                          void* endpoints, void* ctx, enum wd_ancestry from,
                                          __u64 self) {
  out->cgroup_id = self;
  out->identity = WD_ID_HOST;
  out->isolated = 0;
  out->flags = 0;
  out->kind = WD_LOCAL_HOST;
  out->resolved = 1;
  if (!cfg->kubepods_cgroup_id ||
      wd_ancestor_cgroup_id(ctx, from, cfg->kubepods_level) != cfg->kubepods_cgroup_id)
    return;
  out->kind = WD_LOCAL_UNKNOWN_POD;
  out->identity = WD_ID_NONE;
  for (int i = 0; i < WD_MAX_POD_LEVELS; i++) {
    __u32 level = cfg->pod_levels[i];
    if (!level) continue;
    __u64 id = wd_ancestor_cgroup_id(ctx, from, level);
    struct wd_endpoint* ep = bpf_map_lookup_elem(endpoints, &id);
    if (ep) {
      out->cgroup_id = id; /* events name the pod's cgroup, not the container's */
      out->identity = ep->identity;
      out->isolated = ep->isolated;
      out->flags = ep->flags;
      out->kind = WD_LOCAL_POD;
      return;
    }
  }
}

#endif /* WARDEN_LOCAL_H */
