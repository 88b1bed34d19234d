/* Reading a packet into a flow: addresses, protocol and ports, seen from the local endpoint.
 * cgroup_skb programs see the packet from its network header. */
#ifndef WARDEN_PARSE_H
#define WARDEN_PARSE_H

#include "warden_structs.h"

#define WD_ETH_P_IP 0x0800
#define WD_ETH_P_IPV6 0x86DD

/* The addresses first, 8-byte aligned: they are copied whole into keys and events. */
struct wd_flow {
  __u8 local_addr[16];
  __u8 remote_addr[16];
  __u16 local_port;  /* host order; 0 when the protocol has none */
  __u16 remote_port; /* host order */
  __u8 family;       /* WD_AF_* */
  __u8 protocol;     /* WD_IPPROTO_* */
} __attribute__((aligned(8)));

/* Ports of TCP, UDP and SCTP sit in the first four bytes of their headers. */
static __always_inline int wd_has_ports(__u8 proto) {
  return proto == WD_IPPROTO_TCP || proto == WD_IPPROTO_UDP || proto == WD_IPPROTO_SCTP;
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

/* Returns 0 and fills `f` for IPv4/IPv6, -1 for anything else. `egress` orients the flow: the
 * local end is the source on egress and the destination on ingress. */
static __always_inline int wd_parse_skb(struct __sk_buff* skb, int egress, struct wd_flow* f) {
  __u8 *src, *dst;
  __u32 l4_off = 0;
  int ports = 0;
  __builtin_memset(f, 0, sizeof(*f));
  if (skb->protocol == bpf_htons(WD_ETH_P_IP)) {
    struct iphdr ip;
    if (wd_load(skb, 0, &ip, sizeof(ip)) < 0) return -1;
    f->family = WD_AF_INET;
    f->protocol = ip.protocol;
    src = egress ? f->local_addr : f->remote_addr;
    dst = egress ? f->remote_addr : f->local_addr;
    __builtin_memcpy(src, &ip.saddr, 4);
    __builtin_memcpy(dst, &ip.daddr, 4);
    /* Only the first fragment carries ports. */
    ports = wd_has_ports(ip.protocol) && (bpf_ntohs(ip.frag_off) & 0x1fff) == 0;
    l4_off = ip.ihl * 4;
  } else if (skb->protocol == bpf_htons(WD_ETH_P_IPV6)) {
    struct ipv6hdr ip6;
    if (wd_load(skb, 0, &ip6, sizeof(ip6)) < 0) return -1;
    f->family = WD_AF_INET6;
    src = egress ? f->local_addr : f->remote_addr;
    dst = egress ? f->remote_addr : f->local_addr;
    __builtin_memcpy(src, &ip6.saddr, 16);
    __builtin_memcpy(dst, &ip6.daddr, 16);
    __u8 next = ip6.nexthdr;
    l4_off = sizeof(ip6);
    int first_fragment = 1;
#pragma unroll
    for (int i = 0; i < 6; i++) {
      if (next != WD_IPPROTO_HOPOPTS && next != WD_IPPROTO_ROUTING && next != WD_IPPROTO_DSTOPTS &&
          next != WD_IPPROTO_FRAGMENT && next != WD_IPPROTO_AH)
        break;
      __u8 ext[8];
      if (bpf_skb_load_bytes(skb, l4_off, ext, sizeof(ext)) < 0) return -1;
      if (next == WD_IPPROTO_FRAGMENT) {
        first_fragment = ((((__u16)ext[2] << 8) | ext[3]) & 0xfff8) == 0;
        l4_off += 8;
      } else if (next == WD_IPPROTO_AH) {
        l4_off += ((__u32)ext[1] + 2) * 4;
      } else {
        l4_off += ((__u32)ext[1] + 1) * 8;
      }
      next = ext[0];
    }
    f->protocol = next;
    ports = wd_has_ports(next) && first_fragment;
  } else {
    return -1;
  }
  if (ports) {
    __u16 p[2];
    if (wd_load(skb, l4_off, p, sizeof(p)) < 0) return -1;
    f->local_port = bpf_ntohs(egress ? p[0] : p[1]);
    f->remote_port = bpf_ntohs(egress ? p[1] : p[0]);
  }
  return 0;
}

#endif /* WARDEN_PARSE_H */
