/* Key and value layouts of Warden's BPF maps, shared by the BPF programs and user space (as in
 * Katran's *_structs.h). docs/datapath.md explains each table. Fields are plain byte arrays and
 * fixed-width integers in host order, so `bpftool map dump` prints them by name and readably. */
#ifndef WARDEN_STRUCTS_H
#define WARDEN_STRUCTS_H

#ifndef __VMLINUX_H__
#include <linux/types.h>
#endif

#include "warden_consts.h"

/* ipcache: from a remote address to the identities it belongs to. Full-length prefixes (pod and
 * node addresses) sit in the wd_iphost hash, the others in the wd_ipcache LPM trie; both have
 * this key. prefixlen = WD_IPCACHE_PREFIX_BASE + the address prefix length. The family byte is
 * part of the matched data, so IPv4 and IPv6 entries never shadow each other. */
struct wd_ipcache_key {
  __u32 prefixlen;
  __u8 family; /* WD_AF_INET or WD_AF_INET6 */
  __u8 pad[3];
  __u8 addr[16]; /* IPv4 uses addr[0..3] */
};

struct wd_ipcache_value {
  /* A pod identity, or WD_ID_HOST / WD_ID_WORLD / WD_ID_CLUSTER / WD_ID_LOCAL_HOST. Peers given
   * by podSelector and namespaceSelector are keyed by this. */
  __u32 identity;
  /* The CIDR identity of the address: which ipBlock prefixes contain it (and, for a pod
   * address, which named ports the pod declares). Peers given by ipBlock, and rules with no
   * peers, are keyed by this. Every address has one. */
  __u32 cidr_identity;
  /* A pod address: its namespace's identity (WD_ID_NS_FLAG set), else WD_ID_NONE. Peers that
   * are every pod of a namespace (a namespaceSelector or `podSelector: {}` alone) are keyed by
   * it, and peers that are every pod (`namespaceSelector: {}`) by WD_ID_ANY_POD: one entry per
   * namespace, or one, where an entry per pod identity would multiply with the cluster. */
  __u32 ns_identity;
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

/* A run of ports, both ends included. */
struct wd_port_range {
  __u16 lo;
  __u16 hi;
};

/* portset: an array map by set id (wd_policy_value.portset[]). Most sets are one port, a few
 * ports, or all of them: up to WD_PORTSET_INLINE ranges sit in the entry and cost no further
 * lookup. A set of more ranges is a run of `count` sorted, disjoint, non-adjacent ranges in the
 * portranges array from index `first`, searched by halving: memory grows with the ranges a
 * cluster's policies name, not 8 KB per distinct set. */
struct wd_portset {
  __u32 count; /* ranges in the set: 0 = empty */
  __u32 first; /* count > WD_PORTSET_INLINE: the run's first index in portranges; else 0 */
  struct wd_port_range ranges[WD_PORTSET_INLINE]; /* count <= WD_PORTSET_INLINE: the ranges */
};
/* portranges: an array map of struct wd_port_range, the runs of the larger sets. */

/* ---- node-local maps (written by `warden node`) ------------------------------------------ */

/* endpoint: a pod cgroup's id -> the pod's identity. Processes in nested (container) cgroups
 * are found through their ancestor at one of wd_config.pod_levels. */
struct wd_endpoint {
  __u32 identity;
  __u8 isolated; /* WD_ISOLATED_* bits of the identity */
  __u8 flags;    /* WD_EP_* */
  __u8 pad[2];
};

/* config: one entry, written by the agent before it attaches and on every change. */
struct wd_config {
  __u64 kubepods_cgroup_id; /* the node's kubepods cgroup: below it every process is a pod's */
  __u32 kubepods_level;     /* its level (root = 0) */
  /* Levels where pod cgroups sit, tried in order (the agent: kubepods + 2 for Burstable and
   * BestEffort pods, kubepods + 1 for Guaranteed ones); 0 = unused. */
  __u32 pod_levels[WD_MAX_POD_LEVELS];
  __u32 generation;  /* bumped on every update: cached verdicts and conntrack entries re-check */
  __u8 configured;   /* 0 until the agent has written every table once */
  __u8 pool;         /* WD_POOL_* */
  __u8 unknown_pod;  /* WD_UNKNOWN_POD_* */
  __u8 active;       /* which copy of the double-buffered tables is live: 0 = _a, 1 = _b */
  __u32 vcache_seed; /* random per generation: see warden_vcache.h */
  /* The node forwarder (warden_forward.h, docs/forwarder.md). On a default-pool node a pod's
   * TCP connect to a world address on one of fwd_world_ports, which the lockdown refuses, goes
   * to fwd_addr:fwd_port instead when the pod's egress NetworkPolicy admits gw_addr:gw_port (a
   * gateway pod's address and mTLS port: the flow will leave through a gateway). Here, not in a
   * map of its own: it changes with the gateways and flips with the tables' generation. */
  __u8 fwd_addr[4]; /* the forwarder's IPv4 address on the node (the pod reaches it) */
  __u16 fwd_port;   /* its port, host order; 0: no forwarder, such connects refused as before */
  __u16 gw_port;    /* the gateways' mTLS port (15008), host order */
  __u16 fwd_world_ports[WD_FWD_PORTS]; /* world ports sent to the forwarder; 0: unused */
  __u8 gw_family;                      /* WD_AF_* of gw_addr; 0: no gateway known (refused) */
  __u8 pad[7];
  __u8 gw_addr[16]; /* a gateway pod's address: the policy is asked as if the pod went there */
};

/* lockdown: an LPM trie of world destinations that a default-pool node may still reach
 * directly (metadata server, private API VIPs, ...); same key as the ipcache, the value says
 * which ports, as a policy entry does. NetworkPolicy still applies to pods on top. */
/* key: struct wd_ipcache_key, value: struct wd_policy_value */

/* conntrack: flows admitted once, keyed from the local socket's side, for packets the kernel has
 * not matched to a connected TCP socket (UDP, ICMP, ...): a reply passes only with its flow's
 * exact ports. TCP sockets need no entry per connection (see wd_verdict_key). */
struct wd_ct_key {
  /* The socket's own cgroup (not the pod's identity): a packet of a tracked flow then needs
   * no endpoint lookup. Identity changes bump wd_config.generation, which re-checks flows. */
  __u64 cgroup_id;
  __u8 family;
  __u8 protocol; /* WD_IPPROTO_* */
  __u16 local_port;
  __u16 remote_port;
  __u8 pad[2];
  __u8 remote_addr[16];
};

struct wd_ct_value {
  __u32 generation; /* wd_config.generation when admitted or last re-checked */
  __u8 origin;      /* WD_DIR_* of the direction that admitted the flow */
  __u8 pad[3];
};

/* verdicts: an LRU cache of decided verdicts, one per (socket cgroup, direction, peer, the port
 * NetworkPolicy looks at), valid while wd_config.generation is unchanged. A verdict depends on
 * nothing else, so every connection between the same pod and peer port shares one entry: a new
 * connection costs a lookup, not a decision and an insert. Denials are cached too. */
struct wd_verdict_key {
  __u64 cgroup_id; /* the socket's own cgroup */
  __u8 family;
  __u8 protocol;
  __u8 direction; /* WD_DIR_* decided */
  __u8 pad;
  __u16 port; /* the remote port for egress, the local port for ingress */
  __u8 pad2[2];
  __u8 remote_addr[16];
};

struct wd_verdict_value {
  __u64 pod_cgroup_id; /* what events name: the pod's cgroup (or the host process's own) */
  __u32 local_identity;
  __u32 remote_identity; /* the identity whose entry decided, or the remote's identity */
  __u32 generation;      /* wd_config.generation of the decision */
  __u8 allow;
  __u8 reason;       /* WD_REASON_* */
  __u8 reply_barred; /* an ingress verdict about a world address: never admits the pod's replies */
  __u8 pad;
};

/* vcache: a small per-CPU, direct-mapped copy of allowing wd_verdicts entries that may also stand
 * for replies (not reply_barred), for the packets
 * of established TCP connections. Looking it up takes no function call (the verifier inlines
 * per-CPU array lookups), where a hash map lookup takes three; on these machines every kernel
 * return goes through a return thunk (SRSO "safe RET"), which made the calls the larger part of
 * a packet's cost. `check` mixes the key and generation and is written last: a slot torn by a
 * nested writer on the same CPU (a softirq interrupting a program) fails it and is a miss. */
struct wd_vcache_slot {
  struct wd_verdict_key key;
  __u32 generation;
  __u32 pad;
  __u64 check;
};

/* interface: a local pod's network interface, as its node sees it (the ifindex of the node side
 * of its veth) -> the pod: who it is, as its endpoint says, and the addresses it owns. Written by
 * the agent with the other tables (double-buffered), read by the interface programs. */
struct wd_iface {
  __u64 cgroup_id; /* the pod's cgroup (what events name), 0 while it is not known */
  __u32 identity;
  __u8 isolated; /* WD_ISOLATED_* */
  __u8 flags;    /* WD_EP_* */
  __u8 addrs4;   /* how many of addr4 hold the pod's addresses */
  __u8 addrs6;   /* how many of addr6 hold the pod's addresses */
  __u8 addr4[WD_IFACE_ADDRS][4];
  __u8 addr6[WD_IFACE_ADDRS][16];
};

/* ifcache: the interface programs' per-CPU, direct-mapped cache of allowing verdicts (as
 * wd_vcache is the cgroup programs'): per (interface, pod address, direction, peer, the port
 * NetworkPolicy looks at). The pod's address is part of the key: only a packet from (or to) an
 * address the pod owns can match a slot, so a hit needs no look at wd_ifaces. */
struct wd_ifc_key {
  __u32 ifindex;
  __u8 family;
  __u8 protocol;
  __u8 direction; /* WD_DIR_* decided */
  __u8 pad;
  __u16 port; /* the remote port for egress, the local port for ingress */
  __u8 pad2[6];
  __u8 remote_addr[16];
  __u8 local_addr[16]; /* the pod's own */
} __attribute__((aligned(8)));

struct wd_ifcache_slot {
  struct wd_ifc_key key;
  __u32 generation;
  __u32 pad;
  __u64 check;
};

/* frags: fragmented datagrams whose first fragment an interface program admitted (only it
 * carries the ports); their later fragments pass by this entry, any other later fragment is
 * dropped. Addresses as on the wire. */
struct wd_frag_key {
  __u32 ifindex;
  __u32 id; /* IPv4 identification or IPv6 fragment id */
  __u8 family;
  __u8 protocol;
  __u8 pad[2];
  __u8 src[16];
  __u8 dst[16];
};

struct wd_frag_value {
  __u32 generation;
  __u32 pad;
};

/* evlimit: a token bucket of events per pod (key: the pod's cgroup id, or for an interface
 * without one 1 << 63 | ifindex). */
struct wd_evlimit {
  __u64 last_ns;    /* when tokens were last added */
  __u32 tokens;     /* events that may still go out now (WD_EVENTS_PER_POD_BURST at most) */
  __u32 suppressed; /* events not sent since the last one that was */
};

/* events: one per denied packet or connect, and per new allowed flow, in a ring buffer. */
struct wd_event {
  __u64 timestamp_ns;
  __u64 cgroup_id;
  __u32 local_identity;
  __u32 remote_identity;
  __u8 hook;    /* WD_HOOK_* */
  __u8 verdict; /* WD_VERDICT_* */
  __u8 reason;  /* WD_REASON_* */
  __u8 family;
  __u8 protocol;
  __u8 direction; /* WD_DIR_* */
  __u16 local_port;
  __u16 remote_port;
  __u8 pad[2];
  __u8 local_addr[16];
  __u8 remote_addr[16];
  __u32 ifindex;    /* WD_HOOK_IF_*: the pod's interface; else 0 */
  __u32 suppressed; /* this pod's events not sent since its last one (wd_evlimit) */
};

/* fwd_sk: socket storage (BPF_MAP_TYPE_SK_STORAGE) of a pod's socket that connect4 sent to the
 * forwarder: where it meant to go. Freed with the socket, so it cannot leak; getpeername4 reads
 * it back for the application. fwd_records: the same record by the socket's own end, written at
 * sockops TCP_CONNECT_CB (the local address and port are chosen, the SYN not sent), taken (looked
 * up and deleted) by the forwarder when it accepts the connection. An LRU: a record whose SYN
 * never arrived is evicted, never grows the map. */
struct wd_fwd_key {
  __u8 family; /* WD_AF_INET (the forwarder takes IPv4 connects only) */
  __u8 pad;
  __u16 port;    /* the pod socket's local port, host order */
  __u8 addr[16]; /* its local address; IPv4 uses addr[0..3] */
};

struct wd_fwd_record {
  __u64 cgroup_id; /* the pod's cgroup (its wd_endpoints key): who connected */
  __u64 cookie;    /* the pod socket's cookie (logs) */
  __u32 identity;  /* the pod's identity when it connected */
  __u16 orig_port; /* where it connected: port, host order */
  __u8 orig_family;
  __u8 pad;
  __u8 orig_addr[16]; /* and address; IPv4 uses orig_addr[0..3] */
};

/* ---- layout checks ----------------------------------------------------------------------------
 * Pinned maps outlive the agent that created them: a new agent (and `bpftool map dump`) must read
 * them with the same sizes. Changing one of these is an ABI change (WD_ABI_VERSION). */
WD_ASSERT_SIZE(wd_ipcache_key, 24);
WD_ASSERT_SIZE(wd_ipcache_value, 12);
WD_ASSERT_SIZE(wd_policy_key, 12);
WD_ASSERT_SIZE(wd_policy_value, 8);
WD_ASSERT_SIZE(wd_port_range, 4);
WD_ASSERT_SIZE(wd_portset, 8 + 4 * WD_PORTSET_INLINE);
WD_ASSERT_SIZE(wd_endpoint, 8);
WD_ASSERT_SIZE(wd_config, 72);
WD_ASSERT_SIZE(wd_ct_key, 32);
WD_ASSERT_SIZE(wd_ct_value, 8);
WD_ASSERT_SIZE(wd_verdict_key, 32);
WD_ASSERT_SIZE(wd_verdict_value, 24);
WD_ASSERT_SIZE(wd_vcache_slot, 48);
WD_ASSERT_SIZE(wd_iface, 56);
WD_ASSERT_SIZE(wd_ifc_key, 48);
WD_ASSERT_SIZE(wd_ifcache_slot, 64);
WD_ASSERT_SIZE(wd_frag_key, 44);
WD_ASSERT_SIZE(wd_frag_value, 8);
WD_ASSERT_SIZE(wd_evlimit, 16);
WD_ASSERT_SIZE(wd_event, 80);
WD_ASSERT_SIZE(wd_fwd_key, 20);
WD_ASSERT_SIZE(wd_fwd_record, 40);

/* The LPM trie matches the bits after prefixlen: the family byte and its padding
 * (WD_IPCACHE_PREFIX_BASE bits), then the address. */
WD_ASSERT_OFFSET(wd_ipcache_key, family, 4);
WD_ASSERT_OFFSET(wd_ipcache_key, addr, 4 + WD_IPCACHE_PREFIX_BASE / 8);

/* wd_vcache_hash() and the programs' key compare read a wd_verdict_key as four u64 words: every
 * byte is a field or zeroed padding, and the struct is 8-byte aligned. */
WD_ASSERT_OFFSET(wd_verdict_key, cgroup_id, 0);
WD_ASSERT_OFFSET(wd_verdict_key, family, 8);
WD_ASSERT_OFFSET(wd_verdict_key, protocol, 9);
WD_ASSERT_OFFSET(wd_verdict_key, direction, 10);
WD_ASSERT_OFFSET(wd_verdict_key, pad, 11);
WD_ASSERT_OFFSET(wd_verdict_key, port, 12);
WD_ASSERT_OFFSET(wd_verdict_key, pad2, 14);
WD_ASSERT_OFFSET(wd_verdict_key, remote_addr, 16);
WD_STATIC_ASSERT(__alignof__(struct wd_verdict_key) == 8, "wd_verdict_key is read as u64 words");

/* wd_ifcache_hash() and the compare read a wd_ifc_key as six u64 words. */
WD_ASSERT_OFFSET(wd_ifc_key, port, 8);
WD_ASSERT_OFFSET(wd_ifc_key, remote_addr, 16);
WD_ASSERT_OFFSET(wd_ifc_key, local_addr, 32);
WD_STATIC_ASSERT(__alignof__(struct wd_ifc_key) == 8, "wd_ifc_key is read as u64 words");
WD_ASSERT_OFFSET(wd_ifcache_slot, generation, 48);
WD_ASSERT_OFFSET(wd_ifcache_slot, check, 56);

/* A wd_vcache slot: the key's four words, then generation and check (read as a u64). */
WD_ASSERT_OFFSET(wd_vcache_slot, key, 0);
WD_ASSERT_OFFSET(wd_vcache_slot, generation, 32);
WD_ASSERT_OFFSET(wd_vcache_slot, pad, 36);
WD_ASSERT_OFFSET(wd_vcache_slot, check, 40);

#endif /* WARDEN_STRUCTS_H */
