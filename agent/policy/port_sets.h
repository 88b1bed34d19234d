// Sets of ports of one protocol, interned so that equal sets share one id (one bitmap in the
// kernel's portset array). Unions are memoized: compiling 1,000 policies unions the same few
// sets again and again.
#pragma once

#include <cstdint>
#include <utility>
#include <vector>

#include "absl/container/flat_hash_map.h"
#include "warden_structs.h"

namespace warden::policy {

using PortRange = std::pair<uint16_t, uint16_t>;  // inclusive

class PortSetTable {
 public:
  PortSetTable();

  // Interns a set given as ranges in any order, overlapping or not.
  uint16_t Intern(std::vector<PortRange> ranges);
  uint16_t Union(uint16_t a, uint16_t b);
  const std::vector<PortRange>& Ranges(uint16_t id) const { return sets_[id]; }
  size_t size() const { return sets_.size(); }
  // Kernel bitmaps, index = id.
  std::vector<wd_portset> Bitmaps() const;

 private:
  std::vector<std::vector<PortRange>> sets_;
  absl::flat_hash_map<std::vector<PortRange>, uint16_t> ids_;
  absl::flat_hash_map<uint32_t, uint16_t> unions_;
};

inline bool PortsetHas(const wd_portset& s, uint16_t port) {
  return (s.bits[port / 64] >> (port % 64)) & 1u;
}

}  // namespace warden::policy
