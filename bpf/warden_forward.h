/* The node forwarder's part of the programs (docs/forwarder.md). On a default-pool node a pod's
 * world-bound TCP connect on a gateway port, which the lockdown refuses, may go to the node's
 * forwarder instead (wd_config.fwd_*), which carries it to an egress gateway:
 *   connect4: the pod's egress policy is asked as if the pod connected to a gateway pod on its
 *     mTLS port; if it admits that, the destination is rewritten to the forwarder and the
 *     original one stored on the socket (wd_fwd_sk);
 *   sockops TCP_CONNECT_CB (the local end chosen, the SYN not sent yet): the record copied into
 *     wd_fwd_records by the socket's local address and port, where the forwarder finds it when
 *     it accepts (no race: the record is there before the forwarder can see the connection);
 *   getpeername4: the application sees the original peer.
 * The packets of such a connection (pod -> forwarder address and port, and back) pass both lines
 * by wd_to_forwarder; so does a pod's direct connect there, which the forwarder closes, having
 * no record for it. */
#ifndef WARDEN_FORWARD_H
#define WARDEN_FORWARD_H

#include "warden_maps.h"

#define WD_SOCKOPS_TCP_CONNECT_CB 3 /* BPF_SOCK_OPS_TCP_CONNECT_CB */
#define WD_SOCK_AF_INET 2           /* AF_INET */

/* Whether the node has a forwarder. */
static __always_inline int wd_fwd_on(const struct wd_config* cfg) {
  return cfg->pool == WD_POOL_DEFAULT && cfg->fwd_port != 0;
}

/* Whether a pod's egress on TCP to `addr`:`port` goes to the forwarder's own address and port.
 * `addr` is 4-byte aligned (a flow's); compared as one word: the decision's frame has no room to
 * spare (the frames of a chain share 512 bytes of stack). */
static __always_inline int wd_to_forwarder(const struct wd_config* cfg, __u8 family,
                                           const __u8* addr, __u8 proto, __u16 port) {
  return port == cfg->fwd_port && port && family == WD_AF_INET && proto == WD_IPPROTO_TCP &&
         cfg->pool == WD_POOL_DEFAULT &&
         *(const __u32*)addr == *(const __u32*)(const void*)cfg->fwd_addr;
}

/* Whether a world-bound TCP connect on `port` is one the forwarder may take (a gateway is known
 * and the port is one of the gateway ports). */
static __always_inline int wd_fwd_takes(const struct wd_config* cfg, __u16 port) {
  if (!wd_fwd_on(cfg) || !cfg->gw_family || !port) return 0;
#pragma unroll
  for (int i = 0; i < WD_FWD_PORTS; i++) {
    if (cfg->fwd_world_ports[i] == port) return 1;
  }
  return 0;
}

/* Stores where the socket meant to go (`rec`) on the socket itself. Returns 0 when the kernel
 * gave no storage (no memory): the connect is then refused, never sent unrecorded. */
static __always_inline int wd_fwd_remember(struct bpf_sock* sk, const struct wd_fwd_record* rec) {
  if (!sk) return 0;
  struct wd_fwd_record* r = bpf_sk_storage_get(&wd_fwd_sk, sk, 0, BPF_SK_STORAGE_GET_F_CREATE);
  if (!r) return 0;
  __builtin_memcpy(r, rec, sizeof(*rec));
  return 1;
}

/* At TCP_CONNECT_CB: a redirected socket's record by its local end, for the forwarder. */
static __always_inline void wd_fwd_publish(struct bpf_sock_ops* ops) {
  if (ops->family != WD_SOCK_AF_INET) return;
  struct bpf_sock* sk = ops->sk;
  if (!sk) return;
  struct wd_fwd_record* r = bpf_sk_storage_get(&wd_fwd_sk, sk, 0, 0);
  if (!r) return;
  struct wd_fwd_key k = {};
  k.family = WD_AF_INET;
  k.port = (__u16)ops->local_port; /* host order in sockops */
  __u32 local = ops->local_ip4;
  __builtin_memcpy(k.addr, &local, 4);
  bpf_map_update_elem(&wd_fwd_records, &k, r, BPF_ANY);
}

/* getpeername on a redirected socket: the original destination. */
static __always_inline void wd_fwd_restore(struct bpf_sock_addr* ctx) {
  struct bpf_sock* sk = ctx->sk;
  if (!sk) return;
  struct wd_fwd_record* r = bpf_sk_storage_get(&wd_fwd_sk, sk, 0, 0);
  if (!r || r->orig_family != WD_AF_INET) return;
  __u32 a;
  __builtin_memcpy(&a, r->orig_addr, 4);
  ctx->user_ip4 = a;
  ctx->user_port = bpf_htons(r->orig_port);
}

#endif /* WARDEN_FORWARD_H */
