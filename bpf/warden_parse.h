/* Reading a packet into a flow: addresses, protocol and ports, seen from the local endpoint.
 * cgroup_skb programs see the packet from its network header, tc programs from its Ethernet
 * header (`nh`: where the network header starts).
 *
 * Fail closed: an IPv4 or IPv6 packet whose headers cannot be read the way the receiver would
 * read them (a header cut short by the packet's end or by its own length field, IPv4 options
 * that leave no room for the L4 header, an IPv6 extension header chain that ends early or is
 * longer than we walk, a TCP header shorter than 20 bytes, a first fragment too short for its
 * L4 header) is WD_PARSE_MALFORMED and dropped: what the parser cannot read, it cannot judge.
 * Only what is not IP at all is out of scope (ARP, ...). */
#ifndef WARDEN_PARSE_H
#define WARDEN_PARSE_H

#include "warden_structs.h"

#define WD_ETH_P_IP 0x0800
#define WD_ETH_P_IPV6 0x86DD
#define WD_ETH_HLEN 14

/* wd_parse() results */
#define WD_PARSED 0
#define WD_PARSE_NOT_IP 1    /* not IPv4/IPv6: not ours */
#define WD_PARSE_MALFORMED 2 /* IPv4/IPv6 whose headers cannot be read: dropped */

/* TCP flags (wd_flow.tcp_flags) */
#define WD_TCP_FIN 0x01
#define WD_TCP_SYN 0x02
#define WD_TCP_RST 0x04
#define WD_TCP_ACK 0x10

/* The addresses first, 8-byte aligned: they are copied whole into keys and events. */
struct wd_flow {
  __u8 local_addr[16];
  __u8 remote_addr[16];
  __u16 local_port;  /* host order; 0 when the protocol has none */
  __u16 remote_port; /* host order */
  __u8 family;       /* WD_AF_* */
  __u8 protocol;     /* WD_IPPROTO_* */
  __u8 tcp_flags;    /* WD_TCP_*, TCP only */
  __u8 icmp_type;    /* ICMP and ICMPv6 only */
} __attribute__((aligned(8)));

/* Where a packet sits in a fragmented datagram, and the datagram's id. */
#define WD_FRAG_NONE 0
#define WD_FRAG_FIRST 1 /* carries the L4 header (ports) */
#define WD_FRAG_LATER 2 /* carries no L4 header */

struct wd_frag {
  __u32 id; /* IPv4: the 16-bit identification; IPv6: the fragment header's 32 bits */
  __u8 kind;
};

/* Ports of TCP, UDP and SCTP sit in the first four bytes of their headers. */
static __always_inline int wd_has_ports(__u8 proto) {
  return proto == WD_IPPROTO_TCP || proto == WD_IPPROTO_UDP || proto == WD_IPPROTO_SCTP;
}

/* The shortest L4 header the receiver reads for `proto` (0: nothing is read). */
static __always_inline __u32 wd_l4_min(__u8 proto) {
  if (proto == WD_IPPROTO_TCP) return 20;
  if (proto == WD_IPPROTO_UDP || proto == WD_IPPROTO_ICMP || proto == WD_IPPROTO_ICMPV6) return 8;
  if (proto == WD_IPPROTO_SCTP) return 12;
  return 0;
}

static __always_inline int wd_ipv6_ext(__u8 next) {
  return next == WD_IPPROTO_HOPOPTS || next == WD_IPPROTO_ROUTING || next == WD_IPPROTO_DSTOPTS ||
         next == WD_IPPROTO_FRAGMENT || next == WD_IPPROTO_AH;
}

/* Copies `len` bytes at `off` from the packet: straight from its linear part when they are there
 * (a load and a bounds check), else through bpf_skb_load_bytes (a helper call). `len` is a
 * constant at every call site (the copy is unrolled). */
static __always_inline int wd_load(struct __sk_buff* skb, __u32 off, void* dst, __u32 len) {
  void* data = (void*)(long)skb->data;
  void* end = (void*)(long)skb->data_end;
  if (off <= 0x3fff && data + off + len <= end) {
    __builtin_memcpy(dst, data + off, len);
    return 0;
  }
  return bpf_skb_load_bytes(skb, off, dst, len);
}

/* The first 16 bytes of a TCP header: enough for ports, data offset and flags. */
struct wd_tcp_head {
  __u16 source;
  __u16 dest;
  __u32 seq;
  __u32 ack_seq;
  __u8 doff; /* data offset in the high nibble */
  __u8 flags;
  __u16 window;
};

/* Reads the L4 header at `l4` (before `end`, where the IP datagram ends) of a packet that
 * carries one (unfragmented or a first fragment). */
static __always_inline int wd_parse_l4(struct __sk_buff* skb, __u32 l4, __u32 end, int egress,
                                       struct wd_flow* f) {
  __u8 proto = f->protocol;
  __u32 min = wd_l4_min(proto);
  if (l4 + min > end) return WD_PARSE_MALFORMED;
  if (proto == WD_IPPROTO_TCP) {
    struct wd_tcp_head th;
    if (wd_load(skb, l4, &th, sizeof(th)) < 0) return WD_PARSE_MALFORMED;
    if ((th.doff >> 4) < 5) return WD_PARSE_MALFORMED;
    f->tcp_flags = th.flags;
    f->local_port = bpf_ntohs(egress ? th.source : th.dest);
    f->remote_port = bpf_ntohs(egress ? th.dest : th.source);
  } else if (wd_has_ports(proto)) {
    __u16 p[2];
    if (wd_load(skb, l4, p, sizeof(p)) < 0) return WD_PARSE_MALFORMED;
    f->local_port = bpf_ntohs(egress ? p[0] : p[1]);
    f->remote_port = bpf_ntohs(egress ? p[1] : p[0]);
  } else if (min) {
    __u8 icmp[2];
    if (wd_load(skb, l4, icmp, sizeof(icmp)) < 0) return WD_PARSE_MALFORMED;
    f->icmp_type = icmp[0];
  }
  return WD_PARSED;
}

static __always_inline int wd_parse_ipv4(struct __sk_buff* skb, __u32 nh, int egress,
                                         struct wd_flow* f, struct wd_frag* fr, __u32* l4_off) {
  struct iphdr ip;
  if (wd_load(skb, nh, &ip, sizeof(ip)) < 0) return WD_PARSE_MALFORMED;
  __u32 hlen = (__u32)ip.ihl * 4;
  __u32 tot = bpf_ntohs(ip.tot_len);
  __u32 len = skb->len;
  if (ip.version != 4 || hlen < sizeof(ip) || len < nh) return WD_PARSE_MALFORMED;
  /* tot_len 0: a GSO packet larger than 64 KiB (BIG TCP); its length is the skb's. */
  if (tot == 0) tot = len - nh;
  if (tot < hlen || nh + tot > len) return WD_PARSE_MALFORMED;
  f->family = WD_AF_INET;
  f->protocol = ip.protocol;
  __builtin_memcpy(egress ? f->local_addr : f->remote_addr, &ip.saddr, 4);
  __builtin_memcpy(egress ? f->remote_addr : f->local_addr, &ip.daddr, 4);
  __u16 frag = bpf_ntohs(ip.frag_off);
  fr->id = bpf_ntohs(ip.id);
  fr->kind = (frag & 0x1fff) ? WD_FRAG_LATER : (frag & 0x2000) ? WD_FRAG_FIRST : WD_FRAG_NONE;
  *l4_off = nh + hlen;
  /* Only the first fragment carries the L4 header, and it must carry all of it. */
  if (fr->kind == WD_FRAG_LATER) return WD_PARSED;
  return wd_parse_l4(skb, nh + hlen, nh + tot, egress, f);
}

static __always_inline int wd_parse_ipv6(struct __sk_buff* skb, __u32 nh, int egress,
                                         struct wd_flow* f, struct wd_frag* fr, __u32* l4_off) {
  struct ipv6hdr ip6;
  if (wd_load(skb, nh, &ip6, sizeof(ip6)) < 0) return WD_PARSE_MALFORMED;
  __u32 len = skb->len;
  __u32 payload = bpf_ntohs(ip6.payload_len);
  if (ip6.version != 6 || len < nh + sizeof(ip6)) return WD_PARSE_MALFORMED;
  /* payload_len 0: a jumbogram or a GSO packet larger than 64 KiB; its length is the skb's. */
  __u32 end = payload ? nh + sizeof(ip6) + payload : len;
  if (end > len) return WD_PARSE_MALFORMED;
  f->family = WD_AF_INET6;
  __builtin_memcpy(egress ? f->local_addr : f->remote_addr, &ip6.saddr, 16);
  __builtin_memcpy(egress ? f->remote_addr : f->local_addr, &ip6.daddr, 16);
  __u8 next = ip6.nexthdr;
  __u32 off = nh + sizeof(ip6);
  fr->kind = WD_FRAG_NONE;
  fr->id = 0;
#pragma unroll
  for (int i = 0; i < WD_IPV6_EXT_MAX; i++) {
    if (!wd_ipv6_ext(next)) break;
    __u8 ext[8];
    /* An extension header the packet does not hold whole is as good as none: malformed. */
    if (off + sizeof(ext) > end || wd_load(skb, off, ext, sizeof(ext)) < 0)
      return WD_PARSE_MALFORMED;
    if (next == WD_IPPROTO_FRAGMENT) {
      __u16 frag = ((__u16)ext[2] << 8) | ext[3];
      fr->kind = (frag & 0xfff8) ? WD_FRAG_LATER : (frag & 1) ? WD_FRAG_FIRST : WD_FRAG_NONE;
      __builtin_memcpy(&fr->id, &ext[4], 4);
      off += 8;
    } else if (next == WD_IPPROTO_AH) {
      off += ((__u32)ext[1] + 2) * 4;
    } else {
      off += ((__u32)ext[1] + 1) * 8;
    }
    next = ext[0];
    /* After a later fragment's header come payload bytes, not headers. */
    if (fr->kind == WD_FRAG_LATER) break;
  }
  f->protocol = next;
  *l4_off = off;
  if (fr->kind == WD_FRAG_LATER) return WD_PARSED;
  /* More extension headers than we walk: we cannot tell what the packet carries. */
  if (wd_ipv6_ext(next) || off > end) return WD_PARSE_MALFORMED;
  return wd_parse_l4(skb, off, end, egress, f);
}

/* Fills `f` (and `fr`, `*l4_off`: where the L4 header starts) for IPv4/IPv6 starting at `nh`.
 * `egress` orients the flow: the local end is the source on egress and the destination on
 * ingress. */
static __always_inline int wd_parse(struct __sk_buff* skb, __u32 nh, int egress, struct wd_flow* f,
                                    struct wd_frag* fr, __u32* l4_off) {
  __builtin_memset(f, 0, sizeof(*f));
  if (skb->protocol == bpf_htons(WD_ETH_P_IP)) return wd_parse_ipv4(skb, nh, egress, f, fr, l4_off);
  if (skb->protocol == bpf_htons(WD_ETH_P_IPV6))
    return wd_parse_ipv6(skb, nh, egress, f, fr, l4_off);
  return WD_PARSE_NOT_IP;
}

/* For the cgroup programs: the packet from its network header, fragments as the flow they
 * belong to (the cgroup hooks see datagrams before fragmentation and after reassembly). */
static __always_inline int wd_parse_skb(struct __sk_buff* skb, int egress, struct wd_flow* f) {
  struct wd_frag fr;
  __u32 l4_off;
  return wd_parse(skb, 0, egress, f, &fr, &l4_off);
}

#endif /* WARDEN_PARSE_H */
