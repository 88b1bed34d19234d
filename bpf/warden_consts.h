/* Constants shared by the BPF programs and user space (the ABI). Changing a value here changes
 * the meaning of pinned maps: bump WD_ABI_VERSION when you do. */
#ifndef WARDEN_CONSTS_H
#define WARDEN_CONSTS_H

#define WD_ABI_VERSION 4

/* A compile-time check in both the BPF C build (C11) and user space (C++). */
#ifdef __cplusplus
#define WD_STATIC_ASSERT(cond, msg) static_assert(cond, msg)
#else
#define WD_STATIC_ASSERT(cond, msg) _Static_assert(cond, msg)
#endif
/* Layout checks of the structs in warden_structs.h (no stddef.h: vmlinux.h builds have none). */
#define WD_ASSERT_SIZE(type, size) \
  WD_STATIC_ASSERT(sizeof(struct type) == (size), "struct " #type ": size changed")
#define WD_ASSERT_OFFSET(type, field, offset)                          \
  WD_STATIC_ASSERT(__builtin_offsetof(struct type, field) == (offset), \
                   "struct " #type ": offset of " #field " changed")

/* Reserved security identities. Pod identities start at WD_ID_POD_MIN; identities derived from
 * CIDRs (ipBlocks and the whole address space) have WD_ID_CIDR_FLAG set, as in Cilium's
 * local-scope identities, so the two spaces never collide. */
#define WD_ID_NONE 0u       /* never appears in a map value; "no identity" */
#define WD_ID_HOST 1u       /* a node's own addresses */
#define WD_ID_WORLD 2u      /* outside the cluster */
#define WD_ID_CLUSTER 3u    /* inside a cluster CIDR but not a known pod */
#define WD_ID_LOCAL_HOST 4u /* this node's own addresses (node-local tables only) */
#define WD_ID_ANY_POD 5u    /* policy keys only: every pod of every namespace */
#define WD_ID_POD_MIN 256u
#define WD_ID_POD_MAX 0x00ffffffu
#define WD_ID_CIDR_FLAG 0x01000000u
/* Namespace identities: every pod of one namespace, as a policy key names it. */
#define WD_ID_NS_FLAG 0x02000000u

/* Policy directions, seen from the pod that the entry belongs to ("local"). */
#define WD_DIR_INGRESS 0
#define WD_DIR_EGRESS 1

/* wd_endpoint.isolated bits: a NetworkPolicy of that type selects the endpoint's identity. */
#define WD_ISOLATED_INGRESS (1u << WD_DIR_INGRESS)
#define WD_ISOLATED_EGRESS (1u << WD_DIR_EGRESS)

/* Indexes of wd_policy_value.portset[]: the L4 protocols NetworkPolicy names. */
#define WD_L4_TCP 0
#define WD_L4_UDP 1
#define WD_L4_SCTP 2
#define WD_L4_COUNT 3

/* Port sets (wd_portsets, by id): set 0 is empty, set 1 all ports. A set of at most
 * WD_PORTSET_INLINE ranges holds them itself; a larger one names a run of ranges in
 * wd_portranges, which a lookup searches by halving (at most WD_PORTSET_SEARCH_STEPS steps: a
 * set has at most 32768 disjoint ranges). */
#define WD_PORTSET_EMPTY 0
#define WD_PORTSET_ALL 1
#define WD_PORTSET_INLINE 2
#define WD_PORTSET_SEARCH_STEPS 16

/* wd_policy_value.flags */
#define WD_POLICY_OTHER_L4 (1u << 0) /* protocols other than TCP/UDP/SCTP (ICMP, ...) allowed */

/* The LPM key covers the family byte and three pad bytes before the address. */
#define WD_IPCACHE_PREFIX_BASE 32u

#define WD_AF_INET 4
#define WD_AF_INET6 6

/* IP protocol numbers (wd_flow.protocol, wd_ct_key.protocol, wd_verdict_key.protocol,
 * wd_event.protocol), and the IPv6 extension headers the parser steps over. */
#define WD_IPPROTO_HOPOPTS 0
#define WD_IPPROTO_ICMP 1
#define WD_IPPROTO_TCP 6
#define WD_IPPROTO_UDP 17
#define WD_IPPROTO_ROUTING 43
#define WD_IPPROTO_FRAGMENT 44
#define WD_IPPROTO_AH 51
#define WD_IPPROTO_ICMPV6 58
#define WD_IPPROTO_DSTOPTS 60
#define WD_IPPROTO_SCTP 132

/* IPv6 extension headers the parser walks; a packet with more is malformed (dropped). */
#define WD_IPV6_EXT_MAX 6

/* wd_endpoint.flags */
/* An egress-gateway pod: may reach the world from a gateway node. */
#define WD_EP_GATEWAY (1u << 0)

/* wd_config.fwd_world_ports: how many world ports the forwarder may take (80 and 443, and room
 * for a few more). */
#define WD_FWD_PORTS 4

/* wd_config.pool */
#define WD_POOL_DEFAULT 0 /* no direct egress to the world, except the lockdown allowances */
#define WD_POOL_GATEWAY 1 /* only gateway endpoints reach the world, on TCP ports 80 and 443 */

/* wd_config.unknown_pod */
#define WD_UNKNOWN_POD_DENY 0
#define WD_UNKNOWN_POD_ALLOW 1

/* Verdict reasons: index of the counters array and wd_event.reason. Keep in line with ReasonName
 * in agent/datapath/bpf_datapath.cc (and WD_REASON_ALLOWS). */
#define WD_REASON_ALLOW_POLICY 0       /* a NetworkPolicy rule allows it */
#define WD_REASON_ALLOW_NOT_ISOLATED 1 /* no policy of this direction selects the pod */
#define WD_REASON_ALLOW_TRACKED 2      /* a cached verdict or a conntrack entry allows it */
/* a host process (lockdown permitting), the pod's own node, or loopback (127.0.0.0/8, ::1: the
 * cgroup programs only) */
#define WD_REASON_ALLOW_HOST 3
#define WD_REASON_ALLOW_UNKNOWN_POD 4   /* a pod Warden does not know, with --unknown-pod allow */
#define WD_REASON_DENY_POLICY 5         /* the pod is isolated and no rule allows it */
#define WD_REASON_DENY_POOL_LOCKDOWN 6  /* direct egress to the world from this node pool */
#define WD_REASON_DENY_UNKNOWN_POD 7    /* a pod Warden does not know (fail closed) */
#define WD_REASON_DENY_NOT_CONFIGURED 8 /* the agent has not written its configuration yet */
#define WD_REASON_DENY_MALFORMED 9      /* IPv4/IPv6 whose headers cannot be read */
/* The interface programs (WD_HOOK_IF_*): */
#define WD_REASON_DENY_SPOOFED_SOURCE 10  /* leaving a pod from an address not its own */
#define WD_REASON_DENY_NOT_POD_ADDRESS 11 /* toward a pod, to an address not its own */
#define WD_REASON_DENY_PACKET_SOCKET 12   /* refused, and written by a packet socket (AF_PACKET) */
#define WD_REASON_DENY_FRAGMENT 13        /* a later fragment whose first one was not admitted */
#define WD_REASON_ALLOW_LINK_LOCAL 14     /* IPv6 neighbour discovery / MLD on the pod's link */
/* The node forwarder (warden_forward.h): */
#define WD_REASON_REDIRECT_GATEWAY 15 /* a world-bound connect sent to the node's forwarder */
#define WD_REASON_ALLOW_FORWARDER 16  /* a pod's packet to (or connect to) the forwarder's port */
#define WD_REASON_COUNT 17
/* Whether a reason is one of an allowing verdict. */
#define WD_REASON_ALLOWS(r) \
  ((r) <= WD_REASON_ALLOW_UNKNOWN_POD || (r) >= WD_REASON_ALLOW_LINK_LOCAL)

/* wd_event.verdict */
#define WD_VERDICT_ALLOW 1
#define WD_VERDICT_DENY 0

/* wd_event.hook, and the counters' hook index. Keep in line with HookName in
 * agent/datapath/bpf_datapath.cc. */
#define WD_HOOK_EGRESS 0
#define WD_HOOK_INGRESS 1
#define WD_HOOK_CONNECT 2
#define WD_HOOK_SENDMSG 3
/* The programs at the node side of a pod's network interface (tc): what leaves the pod, and
 * what goes to it, whatever socket (or none) made the packet. */
#define WD_HOOK_IF_EGRESS 4
#define WD_HOOK_IF_INGRESS 5
#define WD_HOOK_COUNT 6

/* The loopback device's ifindex, the same in every network namespace (LOOPBACK_IFINDEX). */
#define WD_LOOPBACK_IFINDEX 1

/* wd_config.pod_levels: how many cgroup levels may hold pod cgroups. */
#define WD_MAX_POD_LEVELS 2

/* Map capacities (max_entries) as compiled into bpf/warden_maps.h. The tables (_a, _b) start at
 * these sizes (or BpfDatapath::Options') and grow when a state needs more, up to WD_*_LIMIT. */
#define WD_ENDPOINTS_MAX_ENTRIES 16384  /* wd_endpoints_{a,b}: local pod cgroups */
#define WD_IPCACHE_MAX_ENTRIES 65536    /* wd_ipcache_{a,b}: prefixes shorter than /32, /128 */
#define WD_IPHOST_MAX_ENTRIES 65536     /* wd_iphost_{a,b}: full-length prefixes */
#define WD_POLICY_MAX_ENTRIES 262144    /* wd_policy_{a,b} */
#define WD_PORTSETS_MAX_ENTRIES 65536   /* wd_portsets_{a,b}: every id a policy value can name */
#define WD_PORTRANGES_MAX_ENTRIES 65536 /* wd_portranges_{a,b}: ranges of the larger sets */
#define WD_LOCKDOWN_MAX_ENTRIES 1024    /* wd_lockdown_{a,b} */
#define WD_CT_MAX_ENTRIES 65536         /* wd_ct */
#define WD_VERDICTS_MAX_ENTRIES 65536   /* wd_verdicts */
#define WD_VCACHE_SLOTS 1024            /* wd_vcache, per CPU; a power of two */
#define WD_IFACES_MAX_ENTRIES 4096      /* wd_ifaces_{a,b}: local pods' interfaces */
#define WD_IFCACHE_SLOTS 1024           /* wd_ifcache, per CPU; a power of two */
#define WD_FRAGS_MAX_ENTRIES 8192       /* wd_frags */
#define WD_EVLIMIT_MAX_ENTRIES 16384    /* wd_evlimit */
#define WD_FWD_MAX_ENTRIES 16384        /* wd_fwd_records: connects not accepted yet */
#define WD_COUNTERS_MAX_ENTRIES (WD_HOOK_COUNT * WD_REASON_COUNT) /* wd_counters */

/* The event ring buffer (bytes) and the fill level past which the reader is woken up. */
#define WD_EVENTS_RING_BYTES (1024 * 1024)
#define WD_EVENTS_WAKEUP_BYTES (WD_EVENTS_RING_BYTES / 4)

/* Events per pod (wd_evlimit, a token bucket): a burst of this many, then this many a second;
 * what is refused beyond is counted (wd_counters) and reported by the next event's
 * `suppressed`. */
#define WD_EVENTS_PER_POD_BURST 200
#define WD_EVENTS_PER_POD_PER_S 50

/* A pod's own addresses kept in its wd_iface, per family (Kubernetes gives at most one). */
#define WD_IFACE_ADDRS 2

/* The interface programs' tc filters: one handle and priority, so that a new agent finds and
 * replaces them in place. */
#define WD_TC_HANDLE 0x7764
#define WD_TC_PRIORITY 1

/* How far the agent may grow each table when a state needs more (agent/datapath/
 * table_capacity.h), and so the most a compile may need: well past Kubernetes' published
 * limits (150,000 pods, 5,000 nodes, 110 pods a node), short of letting a runaway input make the
 * agent ask the kernel for gigabytes. Port set ids stop at WD_PORTSETS_MAX_ENTRIES (16 bits). */
#define WD_ENDPOINTS_LIMIT (1u << 16)
#define WD_IPHOST_LIMIT (1u << 22)
#define WD_IPCACHE_LIMIT (1u << 22)
#define WD_POLICY_LIMIT (1u << 24)
#define WD_PORTRANGES_LIMIT (1u << 22)
#define WD_LOCKDOWN_LIMIT (1u << 16)
#define WD_IFACES_LIMIT (1u << 16)

WD_STATIC_ASSERT((WD_VCACHE_SLOTS & (WD_VCACHE_SLOTS - 1)) == 0,
                 "wd_vcache_index masks the hash: WD_VCACHE_SLOTS must be a power of two");
WD_STATIC_ASSERT((WD_IFCACHE_SLOTS & (WD_IFCACHE_SLOTS - 1)) == 0,
                 "wd_ifcache_index masks the hash: WD_IFCACHE_SLOTS must be a power of two");
WD_STATIC_ASSERT(WD_PORTSETS_MAX_ENTRIES <= 65536,
                 "wd_policy_value.portset[] holds a port set's index in 16 bits");
WD_STATIC_ASSERT((1u << WD_PORTSET_SEARCH_STEPS) >= 32768,
                 "the search over a set's ranges must reach its largest possible set");
WD_STATIC_ASSERT((WD_EVENTS_RING_BYTES & (WD_EVENTS_RING_BYTES - 1)) == 0,
                 "a ring buffer's size is a power of two (of at least a page)");

#endif /* WARDEN_CONSTS_H */
