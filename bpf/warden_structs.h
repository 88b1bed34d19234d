/* Key and value layouts of Warden's BPF maps, shared by the BPF programs and user space (as in
 * Katran's *_structs.h). docs/datapath.md explains each table. Fields are plain byte arrays and
 * fixed-width integers in host order, so `bpftool map dump` prints them by name and readably. */
#ifndef WARDEN_STRUCTS_H
#define WARDEN_STRUCTS_H

#ifndef __VMLINUX_H__
#include <linux/types.h>
#endif

#include "warden_consts.h"

/* ipcache: an LPM trie from remote address to the identities it belongs to.
 * prefixlen = WD_IPCACHE_PREFIX_BASE + the address prefix length. The family byte is part of
 * the matched data, so IPv4 and IPv6 entries never shadow each other. */
struct wd_ipcache_key {
  __u32 prefixlen;
  __u8 family; /* WD_AF_INET or WD_AF_INET6 */
  __u8 pad[3];
  __u8 addr[16]; /* IPv4 uses addr[0..3] */
};

struct wd_ipcache_value {
  /* A pod identity, or WD_ID_HOST / WD_ID_WORLD / WD_ID_CLUSTER. Peers given by podSelector
   * and namespaceSelector are keyed by this. */
  __u32 identity;
  /* The CIDR identity of the address: which ipBlock prefixes contain it (and, for a pod
   * address, which named ports the pod declares). Peers given by ipBlock, and rules with no
   * peers, are keyed by this. Every address has one. */
  __u32 cidr_identity;
};

/* Per-identity facts that the policy lookup needs first. */
struct wd_identity_info {
  __u32 identity;
  __u8 isolated; /* WD_ISOLATED_* bits */
  __u8 pad[3];
};

/* policy: a hash from (local identity, remote identity, direction) to the ports allowed. */
struct wd_policy_key {
  __u32 local_identity;
  __u32 remote_identity;
  __u8 direction; /* WD_DIR_INGRESS or WD_DIR_EGRESS */
  __u8 pad[3];
};

struct wd_policy_value {
  __u16 portset[WD_L4_COUNT]; /* index into the portset array map, per WD_L4_* protocol */
  __u16 flags;                /* WD_POLICY_* bits */
};

/* portset: an array map of port bitmaps; bit p of word p/64 set = port p allowed. */
struct wd_portset {
  __u64 bits[WD_PORTSET_WORDS];
};

#endif /* WARDEN_STRUCTS_H */
