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
  // Ids in use or free; free ids keep their old contents until reused.
  size_t size() const { return sets_.size(); }
  // Makes `ids` free (EMPTY and ALL never are): their sets and every cached union naming them
  // are forgotten, and the next new sets take them, lowest first, before the table grows. For
  // a compiler that recompiles part of its entries: ids that only those entries named are
  // reused for the sets that replace them, so unchanged ids keep entries unchanged.
  void Free(const std::vector<uint16_t>& ids);
  // Kernel bitmaps, index = id.
  std::vector<wd_portset> Bitmaps() const;

 private:
  std::vector<std::vector<PortRange>> sets_;
  absl::flat_hash_map<std::vector<PortRange>, uint16_t> ids_;
  absl::flat_hash_map<uint32_t, uint16_t> unions_;
  std::vector<uint16_t> free_;  // descending: back() is the lowest
};

inline bool PortsetHas(const wd_portset& s, uint16_t port) {
  return (s.bits[port / 64] >> (port % 64)) & 1u;
}

}  // namespace warden::policy
