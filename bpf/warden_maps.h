/* Warden's BPF maps. The tables that decide verdicts come in two copies (_a and _b): the agent
 * writes the idle copy, then flips wd_config.active, so that a policy update is atomic for
 * every packet (each packet reads `active` once and uses one copy throughout). All maps are
 * pinned by name under the agent's bpffs directory. */
#ifndef WARDEN_MAPS_H
#define WARDEN_MAPS_H

#include "warden_structs.h"

#define WD_TABLES(side)                             \
  struct {                                          \
    __uint(type, BPF_MAP_TYPE_HASH);                \
    __uint(max_entries, WD_ENDPOINTS_MAX_ENTRIES);  \
    __type(key, __u64); /* cgroup id */             \
    __type(value, struct wd_endpoint);              \
    __uint(pinning, LIBBPF_PIN_BY_NAME);            \
  } wd_endpoints_##side SEC(".maps");               \
  struct {                                          \
    __uint(type, BPF_MAP_TYPE_LPM_TRIE);            \
    __uint(max_entries, WD_IPCACHE_MAX_ENTRIES);    \
    __type(key, struct wd_ipcache_key);             \
    __type(value, struct wd_ipcache_value);         \
    __uint(map_flags, BPF_F_NO_PREALLOC);           \
    __uint(pinning, LIBBPF_PIN_BY_NAME);            \
  } wd_ipcache_##side SEC(".maps");                 \
  /* full-length (/32, /128) ipcache entries */     \
  struct {                                          \
    __uint(type, BPF_MAP_TYPE_HASH);                \
    __uint(max_entries, WD_IPHOST_MAX_ENTRIES);     \
    __type(key, struct wd_ipcache_key);             \
    __type(value, struct wd_ipcache_value);         \
    __uint(map_flags, BPF_F_NO_PREALLOC);           \
    __uint(pinning, LIBBPF_PIN_BY_NAME);            \
  } wd_iphost_##side SEC(".maps");                  \
  struct {                                          \
    __uint(type, BPF_MAP_TYPE_HASH);                \
    __uint(max_entries, WD_POLICY_MAX_ENTRIES);     \
    __type(key, struct wd_policy_key);              \
    __type(value, struct wd_policy_value);          \
    __uint(map_flags, BPF_F_NO_PREALLOC);           \
    __uint(pinning, LIBBPF_PIN_BY_NAME);            \
  } wd_policy_##side SEC(".maps");                  \
  struct {                                          \
    __uint(type, BPF_MAP_TYPE_ARRAY);               \
    __uint(max_entries, WD_PORTSETS_MAX_ENTRIES);   \
    __type(key, __u32);                             \
    __type(value, struct wd_portset);               \
    __uint(pinning, LIBBPF_PIN_BY_NAME);            \
  } wd_portsets_##side SEC(".maps");                \
  struct {                                          \
    __uint(type, BPF_MAP_TYPE_ARRAY);               \
    __uint(max_entries, WD_PORTRANGES_MAX_ENTRIES); \
    __type(key, __u32);                             \
    __type(value, struct wd_port_range);            \
    __uint(pinning, LIBBPF_PIN_BY_NAME);            \
  } wd_portranges_##side SEC(".maps");              \
  struct {                                          \
    __uint(type, BPF_MAP_TYPE_LPM_TRIE);            \
    __uint(max_entries, WD_LOCKDOWN_MAX_ENTRIES);   \
    __type(key, struct wd_ipcache_key);             \
    __type(value, struct wd_policy_value);          \
    __uint(map_flags, BPF_F_NO_PREALLOC);           \
    __uint(pinning, LIBBPF_PIN_BY_NAME);            \
  } wd_lockdown_##side SEC(".maps");                \
  struct {                                          \
    __uint(type, BPF_MAP_TYPE_HASH);                \
    __uint(max_entries, WD_IFACES_MAX_ENTRIES);     \
    __type(key, __u32); /* ifindex */               \
    __type(value, struct wd_iface);                 \
    __uint(map_flags, BPF_F_NO_PREALLOC);           \
    __uint(pinning, LIBBPF_PIN_BY_NAME);            \
  } wd_ifaces_##side SEC(".maps");

WD_TABLES(a)
WD_TABLES(b)

/* The maps of one copy of the tables. A program reads wd_config.active once per packet (or
 * connect) and, where it decides, branches on it, each branch with its own wd_tables of
 * constant map addresses: every lookup then names one map, which the verifier needs to turn it
 * into a direct call (a call site that sees two maps goes through the map's ops table). */
struct wd_tables {
  void* endpoints;
  void* iphost;
  void* ipcache;
  void* policy;
  void* portsets;
  void* lockdown;
  void* ifaces;
  __u32 side; /* 0: the _a maps, 1: the _b maps (the search in wd_portranges: wd_ports_allow) */
};

static __always_inline struct wd_tables wd_tables_a(void) {
  struct wd_tables t = {&wd_endpoints_a, &wd_iphost_a,   &wd_ipcache_a, &wd_policy_a,
                        &wd_portsets_a,  &wd_lockdown_a, &wd_ifaces_a,  0};
  return t;
}

static __always_inline struct wd_tables wd_tables_b(void) {
  struct wd_tables t = {&wd_endpoints_b, &wd_iphost_b,   &wd_ipcache_b, &wd_policy_b,
                        &wd_portsets_b,  &wd_lockdown_b, &wd_ifaces_b,  1};
  return t;
}

struct {
  __uint(type, BPF_MAP_TYPE_ARRAY);
  __uint(max_entries, 1);
  __type(key, __u32);
  __type(value, struct wd_config);
  __uint(pinning, LIBBPF_PIN_BY_NAME);
} wd_config SEC(".maps");

/* wd_config's one entry (never NULL in fact; the verifier wants the check). */
static __always_inline const struct wd_config* wd_cfg(void) {
  __u32 zero = 0;
  return bpf_map_lookup_elem(&wd_config, &zero);
}

/* The search in wd_portranges (wd_ports_allow), per CPU: it runs at the bottom of a chain of BPF
 * functions that already fills the 512 bytes of stack they share, so it keeps its key and
 * bounds here instead. A program that interrupts another on the same CPU (a softirq's, say)
 * may search meanwhile: each search bumps `seq`, so that the one interrupted sees it and starts
 * again. Scratch, not state: not pinned. */
struct wd_search {
  __u32 key; /* the index looked up */
  __u32 lo;  /* the answer is in [lo, hi) */
  __u32 hi;
  __u32 port; /* the port looked for */
  __u32 seq;  /* bumped by every search */
};

struct {
  __uint(type, BPF_MAP_TYPE_PERCPU_ARRAY);
  __uint(max_entries, 1);
  __type(key, __u32);
  __type(value, struct wd_search);
} wd_search SEC(".maps");

/* A key in read-only data rather than on the stack: wd_search's one entry. */
static const __u32 wd_zero_key = 0;

struct {
  __uint(type, BPF_MAP_TYPE_LRU_HASH);
  __uint(max_entries, WD_CT_MAX_ENTRIES);
  __type(key, struct wd_ct_key);
  __type(value, struct wd_ct_value);
  __uint(pinning, LIBBPF_PIN_BY_NAME);
} wd_ct SEC(".maps");

struct {
  __uint(type, BPF_MAP_TYPE_LRU_HASH);
  __uint(max_entries, WD_VERDICTS_MAX_ENTRIES);
  __type(key, struct wd_verdict_key);
  __type(value, struct wd_verdict_value);
  __uint(pinning, LIBBPF_PIN_BY_NAME);
} wd_verdicts SEC(".maps");

struct {
  __uint(type, BPF_MAP_TYPE_PERCPU_ARRAY);
  __uint(max_entries, WD_VCACHE_SLOTS);
  __type(key, __u32);
  __type(value, struct wd_vcache_slot);
  __uint(pinning, LIBBPF_PIN_BY_NAME);
} wd_vcache SEC(".maps");

struct {
  __uint(type, BPF_MAP_TYPE_PERCPU_ARRAY);
  __uint(max_entries, WD_IFCACHE_SLOTS);
  __type(key, __u32);
  __type(value, struct wd_ifcache_slot);
  __uint(pinning, LIBBPF_PIN_BY_NAME);
} wd_ifcache SEC(".maps");

struct {
  __uint(type, BPF_MAP_TYPE_LRU_HASH);
  __uint(max_entries, WD_FRAGS_MAX_ENTRIES);
  __type(key, struct wd_frag_key);
  __type(value, struct wd_frag_value);
  __uint(pinning, LIBBPF_PIN_BY_NAME);
} wd_frags SEC(".maps");

struct {
  __uint(type, BPF_MAP_TYPE_LRU_HASH);
  __uint(max_entries, WD_EVLIMIT_MAX_ENTRIES);
  __type(key, __u64);
  __type(value, struct wd_evlimit);
  __uint(pinning, LIBBPF_PIN_BY_NAME);
} wd_evlimit SEC(".maps");

/* The node forwarder's records (warden_forward.h): on the redirected socket, and by its local end
 * until the forwarder takes them. Pinned: a connect seen by one agent's programs is accepted by
 * the next agent's forwarder, and getpeername must find what connect4 stored. */
struct {
  __uint(type, BPF_MAP_TYPE_SK_STORAGE);
  __uint(map_flags, BPF_F_NO_PREALLOC);
  __type(key, int);
  __type(value, struct wd_fwd_record);
  __uint(pinning, LIBBPF_PIN_BY_NAME);
} wd_fwd_sk SEC(".maps");

struct {
  __uint(type, BPF_MAP_TYPE_LRU_HASH);
  __uint(max_entries, WD_FWD_MAX_ENTRIES);
  __type(key, struct wd_fwd_key);
  __type(value, struct wd_fwd_record);
  __uint(pinning, LIBBPF_PIN_BY_NAME);
} wd_fwd_records SEC(".maps");

/* Packet and connect counters per (hook, reason): index hook * WD_REASON_COUNT + reason. */
struct {
  __uint(type, BPF_MAP_TYPE_PERCPU_ARRAY);
  __uint(max_entries, WD_COUNTERS_MAX_ENTRIES);
  __type(key, __u32);
  __type(value, __u64);
  __uint(pinning, LIBBPF_PIN_BY_NAME);
} wd_counters SEC(".maps");

struct {
  __uint(type, BPF_MAP_TYPE_RINGBUF);
  __uint(max_entries, WD_EVENTS_RING_BYTES);
  __uint(pinning, LIBBPF_PIN_BY_NAME);
} wd_events SEC(".maps");

#endif /* WARDEN_MAPS_H */
