/* Which TCP socket the kernel matched a packet to, read through BTF without a helper call. */
#ifndef WARDEN_TCP_H
#define WARDEN_TCP_H

#include "warden_parse.h"

/* What TCP socket the kernel matched this packet to:
 *   WD_TCP_CONNECTION: a connection (any TCP socket but a listener receiving). The packet is
 *     either its connection's own direction or a reply to it, so the reverse direction's verdict
 *     may admit it.
 *   WD_TCP_LISTENER: a listener receiving (a SYN, or the ACK completing a handshake): it opens
 *     a new connection and only its own (ingress) direction counts.
 *   WD_TCP_NONE: no TCP socket (not TCP, or no socket: a reset to a closed port, say). */
#define WD_TCP_NONE 0
#define WD_TCP_CONNECTION 1
#define WD_TCP_LISTENER 2

/* The packet's kernel sk_buff, for reading its socket through BTF (no helper call: the verifier
 * turns this kfunc into a register move). */
extern void* bpf_cast_to_kern_ctx(void* ctx) __ksym;

/* Also gives the socket's cgroup id (*cgroup_id, the same as bpf_skb_cgroup_id()) for a TCP
 * socket. Everything is read through the socket's BTF type, without a helper call
 * (bpf_sk_fullsock and bpf_skb_cgroup_id took two); see struct wd_vcache_slot for why calls
 * count. */
static __always_inline int wd_tcp_socket(struct __sk_buff* skb, const struct wd_flow* f, __u8 dir,
                                         __u64* cgroup_id) {
  if (f->protocol != WD_IPPROTO_TCP) return WD_TCP_NONE;
  struct sk_buff* kskb = bpf_cast_to_kern_ctx(skb);
  struct sock* sk = kskb->sk;
  if (!sk) return WD_TCP_NONE;
  /* A full socket (not a request or time-wait socket), a TCP one (not a raw socket of protocol
   * TCP): what bpf_skc_to_tcp_sock() checks. */
  __u8 state = sk->__sk_common.skc_state;
  if (state == BPF_TCP_TIME_WAIT || state == BPF_TCP_NEW_SYN_RECV) return WD_TCP_NONE;
  if (sk->sk_protocol != WD_IPPROTO_TCP || sk->sk_type != SOCK_STREAM) return WD_TCP_NONE;
  *cgroup_id = sk->sk_cgrp_data.cgroup->kn->id;
  return dir == WD_DIR_INGRESS && state == BPF_TCP_LISTEN ? WD_TCP_LISTENER : WD_TCP_CONNECTION;
}

#endif /* WARDEN_TCP_H */
