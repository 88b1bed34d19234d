// Stable numeric identities: an identity's number is derived from a hash of what defines it
// (so adding one pod does not renumber every other identity, and pushes stay small), with
// linear probing on collision in sorted key order (so the same input gives the same numbers).
#pragma once

#include <cstdint>
#include <string>
#include <vector>

#include "absl/container/flat_hash_set.h"
#include "absl/status/statusor.h"

namespace warden::policy {

class IdentityAllocator {
 public:
  IdentityAllocator(uint32_t lo, uint32_t hi) : lo_(lo), hi_(hi) {}
  // `keys` must be sorted and unique; returns one id per key, in the same order, or
  // ResourceExhausted when the range has fewer free ids than keys.
  absl::StatusOr<std::vector<uint32_t>> Allocate(const std::vector<std::string>& keys);

 private:
  uint32_t lo_, hi_;
  absl::flat_hash_set<uint32_t> used_;
};

}  // namespace warden::policy
