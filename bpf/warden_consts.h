/* Constants shared by the BPF programs and user space (the ABI). Changing a value here changes
 * the meaning of pinned maps: bump WD_ABI_VERSION when you do. */
#ifndef WARDEN_CONSTS_H
#define WARDEN_CONSTS_H

#define WD_ABI_VERSION 1

/* Reserved security identities. Pod identities start at WD_ID_POD_MIN; identities derived from
 * CIDRs (ipBlocks and the whole address space) have WD_ID_CIDR_FLAG set, as in Cilium's
 * local-scope identities, so the two spaces never collide. */
#define WD_ID_NONE 0u    /* never appears in a map value; "no identity" */
#define WD_ID_HOST 1u    /* a node's own addresses */
#define WD_ID_WORLD 2u   /* outside the cluster */
#define WD_ID_CLUSTER 3u /* inside a cluster CIDR but not a known pod */
#define WD_ID_POD_MIN 256u
#define WD_ID_POD_MAX 0x00ffffffu
#define WD_ID_CIDR_FLAG 0x01000000u

/* Policy directions, seen from the pod that the entry belongs to ("local"). */
#define WD_DIR_INGRESS 0
#define WD_DIR_EGRESS 1

/* wd_identity_info.isolated bits: a NetworkPolicy of that type selects the identity. */
#define WD_ISOLATED_INGRESS (1u << WD_DIR_INGRESS)
#define WD_ISOLATED_EGRESS (1u << WD_DIR_EGRESS)

/* Indexes of wd_policy_value.portset[]: the L4 protocols NetworkPolicy names. */
#define WD_L4_TCP 0
#define WD_L4_UDP 1
#define WD_L4_SCTP 2
#define WD_L4_COUNT 3

/* Port sets: bitmaps of the 65536 ports, stored in an array map. Set 0 is empty, set 1 is full. */
#define WD_PORTSET_EMPTY 0
#define WD_PORTSET_ALL 1
#define WD_PORTSET_WORDS (65536 / 64)

/* wd_policy_value.flags */
#define WD_POLICY_OTHER_L4 (1u << 0) /* protocols other than TCP/UDP/SCTP (ICMP, ...) allowed */

/* The LPM key covers the family byte and three pad bytes before the address. */
#define WD_IPCACHE_PREFIX_BASE 32u

#define WD_AF_INET 4
#define WD_AF_INET6 6

#endif /* WARDEN_CONSTS_H */
