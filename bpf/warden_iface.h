/* The second line: what the interface programs (tc, at the node side of each local pod's network
 * interface) need besides the decision itself. The pod is found from the interface
 * (wd_ifaces), not from a socket: these programs see every packet the pod sends or receives,
 * whatever socket or none made it (packet sockets, forwarding, tunnel devices, the kernel's own
 * answers). docs/datapath.md, "The second line", says what they decide and in which order. */
#ifndef WARDEN_IFACE_H
#define WARDEN_IFACE_H

#include "warden_caches.h"
#include "warden_tcp.h"

/* tc verdicts (direct action). Passing is TC_ACT_UNSPEC, not TC_ACT_OK: it leaves the packet to
 * the filters after ours (a CNI's), as if ours were not there. */
#define WD_TC_PASS (-1)
#define WD_TC_DROP 2

/* Socket families as the kernel's sk_family holds them (not the WD_AF_* of flows). */
#define WD_SK_AF_INET 2
#define WD_SK_AF_INET6 10
#define WD_AF_PACKET 17 /* a packet socket's sk_family */

/* A packet as the interface fast path hands it to wd_if_slow, with room for the keys either
 * makes (in the fast path's frame: the slow path's stays small enough for the 512 bytes a chain
 * of BPF functions shares). */
struct wd_if_packet {
  struct wd_flow flow;
  struct wd_frag frag;
  __u32 l4_off; /* where the L4 header starts in the frame */
  __u32 parsed; /* WD_PARSED or WD_PARSE_MALFORMED */
  union {
    struct wd_ifc_key cache; /* the fast path's, then what the slow path admits */
    struct wd_frag_key frag; /* a fragment's */
  } key;
};

static __always_inline void wd_ifc_key_of(struct wd_ifc_key* k, __u32 ifindex,
                                          const struct wd_flow* f, __u8 dir) {
  __builtin_memset(k, 0, sizeof(*k));
  k->ifindex = ifindex;
  k->family = f->family;
  k->protocol = f->protocol;
  k->direction = dir;
  k->port = dir == WD_DIR_EGRESS ? f->remote_port : f->local_port;
  __builtin_memcpy(k->remote_addr, f->remote_addr, 16);
  __builtin_memcpy(k->local_addr, f->local_addr, 16);
}

/* The same key for the other direction's verdict. */
static __always_inline void wd_ifc_key_reverse(struct wd_ifc_key* k, const struct wd_flow* f) {
  k->direction ^= 1;
  k->port = k->direction == WD_DIR_EGRESS ? f->remote_port : f->local_port;
}

/* Whether k's wd_ifcache slot holds an allowing verdict of `generation` (as wd_vcache_allows:
 * the whole key, the generation and the check must match). */
static __always_inline int wd_ifcache_allows(const struct wd_ifc_key* k, __u64 h,
                                             __u32 generation) {
  __u32 idx = wd_ifcache_index(h);
  struct wd_ifcache_slot* s = bpf_map_lookup_elem(&wd_ifcache, &idx);
  if (!s) return 0;
  const __u64* a = (const __u64*)k;
  const __u64* b = (const __u64*)&s->key;
  return s->check == wd_vcache_check(h, generation) && s->generation == generation &&
         a[0] == b[0] && a[1] == b[1] && a[2] == b[2] && a[3] == b[3] && a[4] == b[4] &&
         a[5] == b[5];
}

static __always_inline void wd_ifcache_put(const struct wd_ifc_key* k, __u64 h, __u32 generation) {
  __u32 idx = wd_ifcache_index(h);
  struct wd_ifcache_slot* s = bpf_map_lookup_elem(&wd_ifcache, &idx);
  if (!s) return;
  /* Invalid while written, the check last (see wd_vcache_put). */
  *(volatile __u64*)&s->check = 0;
  __asm__ __volatile__("" ::: "memory");
  __builtin_memcpy(&s->key, k, sizeof(*k));
  s->generation = generation;
  s->pad = 0;
  __asm__ __volatile__("" ::: "memory");
  *(volatile __u64*)&s->check = wd_vcache_check(h, generation);
}

/* A TCP segment that opens a connection (SYN without ACK): only its own direction's verdict
 * counts, never the reverse one's (as at a listener). */
static __always_inline int wd_opens_connection(const struct wd_flow* f) {
  return f->protocol == WD_IPPROTO_TCP && (f->tcp_flags & (WD_TCP_SYN | WD_TCP_ACK)) == WD_TCP_SYN;
}

/* ICMP errors quote a packet (judged as that packet's flow), and IPv6 neighbour discovery and
 * multicast listener messages stay on the link: both go to the slow path. */
static __always_inline int wd_icmp_error(const struct wd_flow* f) {
  if (f->protocol == WD_IPPROTO_ICMP)
    return f->icmp_type == 3 || f->icmp_type == 4 || f->icmp_type == 5 || f->icmp_type == 11 ||
           f->icmp_type == 12;
  return f->protocol == WD_IPPROTO_ICMPV6 && f->icmp_type < 128;
}

static __always_inline int wd_icmp6_link(const struct wd_flow* f) {
  __u8 t = f->icmp_type;
  return f->protocol == WD_IPPROTO_ICMPV6 && ((t >= 130 && t <= 137) || t == 143);
}

/* Whether the fast path may admit the packet from wd_ifcache: whole (not a fragment) and
 * neither an ICMP error nor a message of the link. */
static __always_inline int wd_if_cacheable(const struct wd_flow* f, const struct wd_frag* fr) {
  return fr->kind == WD_FRAG_NONE && !wd_icmp_error(f) && !wd_icmp6_link(f);
}

/* ---- the slow path's pieces ------------------------------------------------------------------ */

static __always_inline int wd_same16(const __u8* a, const __u8* b) {
  const __u64* x = (const __u64*)a;
  const __u64* y = (const __u64*)b;
  return x[0] == y[0] && x[1] == y[1];
}

/* Whether `addr` (of family `family`, 16 bytes, IPv4 in the first 4) is one of the pod's. */
static __always_inline int wd_iface_owns(const struct wd_iface* ifc, __u8 family,
                                         const __u8* addr) {
  if (family == WD_AF_INET) {
    __u32 a = *(const __u32*)addr;
#pragma unroll
    for (int i = 0; i < WD_IFACE_ADDRS; i++) {
      if (i < ifc->addrs4 && *(const __u32*)ifc->addr4[i] == a) return 1;
    }
    return 0;
  }
#pragma unroll
  for (int i = 0; i < WD_IFACE_ADDRS; i++) {
    if (i < ifc->addrs6 && wd_same16(ifc->addr6[i], addr)) return 1;
  }
  return 0;
}

/* IPv6 addresses that no router forwards beyond the link: link-local unicast (fe80::/10),
 * link-scope multicast (ff02::/16 and the other ffx2::), the unspecified address. */
static __always_inline int wd_on_link6(const __u8* a) {
  if (a[0] == 0xfe && (a[1] & 0xc0) == 0x80) return 1;
  if (a[0] == 0xff && (a[1] & 0x0f) == 0x02) return 1;
  const __u64* w = (const __u64*)a;
  return w[0] == 0 && w[1] == 0;
}

/* IPv6 neighbour discovery and multicast listener messages between the pod and its node: the
 * peer's address keeps them on the link, and the pod's end is on the link or the pod's own. They
 * pass without a verdict (NetworkPolicy does not govern them; without them IPv6 stops). */
static __always_inline int wd_link_message(const struct wd_iface* ifc, const struct wd_flow* f) {
  return f->family == WD_AF_INET6 && wd_icmp6_link(f) && wd_on_link6(f->remote_addr) &&
         (wd_on_link6(f->local_addr) || wd_iface_owns(ifc, f->family, f->local_addr));
}

/* Whether the packet was written by a packet socket (AF_PACKET): the node side of a veth still
 * sees the sending socket (the veth keeps it across network namespaces). Read through BTF. */
static __always_inline int wd_from_packet_socket(struct __sk_buff* skb) {
  struct sk_buff* kskb = bpf_cast_to_kern_ctx(skb);
  struct sock* sk = kskb->sk;
  return sk && sk->__sk_common.skc_family == WD_AF_PACKET;
}

/* Whether the packet was sent by a socket of the interface's pod through the IP stack (its
 * cgroup at one of the pod levels is the pod's): then the first line judged it on its way out,
 * so it belongs to a flow the first line admitted. Not a packet socket's frame, not the kernel's
 * own answers (its control sockets are no pod's), not a packet forwarded or tunnelled by the
 * pod. The socket survives the veth, so the node side still sees it. */
static __always_inline int wd_sent_by_pod_socket(struct __sk_buff* skb, const struct wd_config* cfg,
                                                 __u64 pod_cgroup) {
  struct sk_buff* kskb = bpf_cast_to_kern_ctx(skb);
  struct sock* sk = kskb->sk;
  if (!sk) return 0;
  __u16 family = sk->__sk_common.skc_family;
  if (family != WD_SK_AF_INET && family != WD_SK_AF_INET6) return 0;
#pragma unroll
  for (int i = 0; i < WD_MAX_POD_LEVELS; i++) {
    __u32 level = cfg->pod_levels[i];
    if (level && bpf_skb_ancestor_cgroup_id(skb, level) == pod_cgroup) return 1;
  }
  return 0;
}

/* The quoted packet's header of an ICMP error: addresses as on the wire, protocol, ports. */
struct wd_quote {
  __u8 src[16];
  __u8 dst[16];
  __u16 sport, dport;
  __u8 protocol;
  __u8 pad[3];
} __attribute__((aligned(8)));

static __always_inline int wd_read_quote(struct __sk_buff* skb, __u32 off, __u8 family,
                                         struct wd_quote* q) {
  __u32 l4;
  __builtin_memset(q, 0, sizeof(*q));
  if (family == WD_AF_INET) {
    struct iphdr ip;
    if (bpf_skb_load_bytes(skb, off, &ip, sizeof(ip)) < 0) return 0;
    if (ip.version != 4 || ip.ihl < 5) return 0;
    __builtin_memcpy(q->src, &ip.saddr, 4);
    __builtin_memcpy(q->dst, &ip.daddr, 4);
    q->protocol = ip.protocol;
    if (bpf_ntohs(ip.frag_off) & 0x1fff) return 1; /* a later fragment: no ports */
    l4 = off + (__u32)ip.ihl * 4;
  } else {
    struct ipv6hdr ip6;
    if (bpf_skb_load_bytes(skb, off, &ip6, sizeof(ip6)) < 0) return 0;
    if (ip6.version != 6) return 0;
    __builtin_memcpy(q->src, &ip6.saddr, 16);
    __builtin_memcpy(q->dst, &ip6.daddr, 16);
    q->protocol = ip6.nexthdr; /* an extension header: judged without ports */
    l4 = off + sizeof(ip6);
  }
  if (wd_has_ports(q->protocol)) {
    __u16 p[2];
    if (bpf_skb_load_bytes(skb, l4, p, sizeof(p)) < 0) return 0;
    q->sport = bpf_ntohs(p[0]);
    q->dport = bpf_ntohs(p[1]);
  }
  return 1;
}

/* An ICMP error is about the packet it quotes, and travels toward that packet's sender: it is
 * judged as a packet of the quoted flow going that way. Leaving the pod (dir egress), the quote
 * must be of a packet the peer sent to the pod (its source the error's destination, its
 * destination the pod); coming to the pod, of a packet the pod sent (its source the pod; its
 * destination, the flow's peer, may differ from the error's sender: a router on the way).
 * Rewrites `f` into that flow and returns 1; else (a quote of anything else) returns 0 and the
 * error is judged as the ICMP packet it is. A function of its own: its frame (the quoted
 * headers) is not the slow path's. */
static __noinline int wd_icmp_quoted_flow(struct __sk_buff* skb, __u32 l4_off, __u32 dir,
                                          struct wd_flow* f) {
  struct wd_quote q;
  if (!wd_read_quote(skb, l4_off + 8, f->family, &q)) return 0;
  if (dir == WD_DIR_EGRESS) {
    if (!wd_same16(q.src, f->remote_addr) || !wd_same16(q.dst, f->local_addr)) return 0;
    f->local_port = q.dport;
    f->remote_port = q.sport;
  } else {
    if (!wd_same16(q.src, f->local_addr)) return 0;
    __builtin_memcpy(f->remote_addr, q.dst, 16);
    f->local_port = q.sport;
    f->remote_port = q.dport;
  }
  f->protocol = q.protocol;
  f->tcp_flags = 0;
  f->icmp_type = 0;
  return 1;
}

static __always_inline void wd_frag_key_of(struct wd_frag_key* k, __u32 ifindex,
                                           const struct wd_flow* f, const struct wd_frag* fr,
                                           __u8 dir) {
  __builtin_memset(k, 0, sizeof(*k));
  k->ifindex = ifindex;
  k->id = fr->id;
  k->family = f->family;
  k->protocol = f->protocol;
  __builtin_memcpy(k->src, dir == WD_DIR_EGRESS ? f->local_addr : f->remote_addr, 16);
  __builtin_memcpy(k->dst, dir == WD_DIR_EGRESS ? f->remote_addr : f->local_addr, 16);
}

#endif /* WARDEN_IFACE_H */
