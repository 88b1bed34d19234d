/* The per-CPU verdict cache's slot and check (struct wd_vcache_slot), shared by the BPF programs
 * and user space (tests forge slots with them). Pure arithmetic, no BPF helpers. */
#ifndef WARDEN_VCACHE_H
#define WARDEN_VCACHE_H

#include "warden_structs.h"

/* The key's four words, each offset by the seed (wd_config.vcache_seed, random per generation)
 * and multiplied by its own odd constant; folded once. Gives the slot (low bits) and, with the
 * generation, the check. The seed keeps anyone from choosing keys whose mixtures collide. */
static inline __u64 wd_vcache_hash(const struct wd_verdict_key* k, __u32 seed) {
  const __u64* w = (const __u64*)k;
  __u64 s = ((__u64)seed << 32) | seed;
  __u64 h = ((w[0] ^ s) * 0x9e3779b97f4a7c15ULL) ^ ((w[1] ^ s) * 0xc2b2ae3d27d4eb4fULL) ^
            ((w[2] ^ s) * 0x165667b19e3779f9ULL) ^ ((w[3] ^ s) * 0xd6e8feb86659fd93ULL);
  return h ^ (h >> 29);
}

static inline __u32 wd_vcache_index(__u64 h) { return (__u32)h & (WD_VCACHE_SLOTS - 1); }

static inline __u64 wd_vcache_check(__u64 h, __u32 generation) {
  __u64 c = (h ^ generation) * 0xff51afd7ed558ccdULL;
  return c ^ (c >> 32);
}

/* The interface programs' cache (struct wd_ifcache_slot): the same mixing over the six words of
 * a wd_ifc_key. */
static inline __u64 wd_ifcache_hash(const struct wd_ifc_key* k, __u32 seed) {
  const __u64* w = (const __u64*)k;
  __u64 s = ((__u64)seed << 32) | seed;
  __u64 h = ((w[0] ^ s) * 0x9e3779b97f4a7c15ULL) ^ ((w[1] ^ s) * 0xc2b2ae3d27d4eb4fULL) ^
            ((w[2] ^ s) * 0x165667b19e3779f9ULL) ^ ((w[3] ^ s) * 0xd6e8feb86659fd93ULL) ^
            ((w[4] ^ s) * 0x27d4eb2f165667c5ULL) ^ ((w[5] ^ s) * 0x94d049bb133111ebULL);
  return h ^ (h >> 29);
}

static inline __u32 wd_ifcache_index(__u64 h) { return (__u32)h & (WD_IFCACHE_SLOTS - 1); }

#endif /* WARDEN_VCACHE_H */
