// Sets of ports of one protocol, interned so that equal sets share one id (one entry of the
// kernel's portset array). Unions are memoized: compiling 1,000 policies unions the same few
// sets again and again.
#pragma once

#include <cstdint>
#include <utility>
#include <vector>

#include "absl/container/flat_hash_map.h"
#include "absl/status/statusor.h"
#include "warden_structs.h"

namespace warden::policy {

using PortRange = std::pair<uint16_t, uint16_t>;  // inclusive
// Port sets by id (index): what a compile's tables and a node state name by wd_policy_value's
// portset ids.
using PortsetList = std::vector<std::vector<PortRange>>;

// Sorted, disjoint and non-adjacent: the form every interned set has.
std::vector<PortRange> NormalizeRanges(std::vector<PortRange> ranges);

// Port sets as the kernel holds them (bpf/warden_structs.h, wd_portset): a set's ranges inline
// when there are at most WD_PORTSET_INLINE of them, else a run in the shared range array. The
// conversions and the lookup, in one place.
struct KernelPortsets {
  std::vector<wd_portset> sets;       // by set id
  std::vector<wd_port_range> ranges;  // the runs of the larger sets
};
// Appends the kernel form of `ranges` (normalized) as the next set id.
void AppendKernelPortset(const std::vector<PortRange>& ranges, KernelPortsets* k);
// A set's ranges back from its kernel form (empty when its run lies outside `ranges`).
std::vector<PortRange> KernelPortsetRanges(const wd_portset& set,
                                           const std::vector<wd_port_range>& ranges);
// What the BPF lookup (wd_ports_allow) answers: the same halving over a set's run.
bool KernelPortsetHas(const wd_portset& set, const std::vector<wd_port_range>& ranges,
                      uint16_t port);

class PortSetTable {
 public:
  PortSetTable();

  // Ids are 16 bits (wd_policy_value.portset[]): the table never holds more sets than that.
  static constexpr size_t kMaxSets = 0x10000;

  // Interns a set given as ranges in any order, overlapping or not. ResourceExhausted once the
  // table would need more than kMaxSets ids.
  absl::StatusOr<uint16_t> Intern(std::vector<PortRange> ranges);
  absl::StatusOr<uint16_t> Union(uint16_t a, uint16_t b);
  const std::vector<PortRange>& Ranges(uint16_t id) const { return sets_[id]; }
  // Ids in use or free; free ids keep their old contents until reused.
  size_t size() const { return sets_.size(); }
  // Makes `ids` free (EMPTY and ALL never are): their sets and every cached union naming them
  // are forgotten, and the next new sets take them, lowest first, before the table grows. For
  // a compiler that recompiles part of its entries: ids that only those entries named are
  // reused for the sets that replace them, so unchanged ids keep entries unchanged.
  void Free(const std::vector<uint16_t>& ids);
  // Every set by id (free ids keep old contents).
  const PortsetList& Sets() const { return sets_; }

 private:
  PortsetList sets_;
  absl::flat_hash_map<std::vector<PortRange>, uint16_t> ids_;
  absl::flat_hash_map<uint32_t, uint16_t> unions_;
  std::vector<uint16_t> free_;  // descending: back() is the lowest
};

}  // namespace warden::policy
