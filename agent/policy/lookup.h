// The user-space twin of the kernel's policy lookup. It reads the compiled tables exactly as
// the BPF programs do (an LPM match in the ipcache, then the identity's isolation bits, then the
// policy hash probed with the remote's pod identity and then its CIDR identity, then the port set
// in its kernel form: inline ranges or a run searched by halving), so `explain` and the kernel
// cannot disagree. Keep it step for step in line
// with bpf/ (docs/datapath.md lists the steps).
#pragma once

#include <map>
#include <optional>
#include <string>

#include "absl/container/flat_hash_map.h"
#include "agent/policy/ip.h"
#include "agent/policy/objects.h"
#include "agent/policy/snapshot.h"

namespace warden::policy {

struct TwinVerdict {
  bool allowed = false;
  bool isolated = false;
  uint32_t matched_remote = WD_ID_NONE;  // the remote identity whose entry allowed it
};

class DatapathTwin {
 public:
  explicit DatapathTwin(const Snapshot& snap);

  // Longest-prefix match, as the kernel's LPM trie answers it. Always found for an address
  // (0.0.0.0/0 and ::/0 are always present).
  std::optional<wd_ipcache_value> LookupIpcache(const IpAddress& ip) const;

  // The verdict for traffic of `local` in `direction` with a remote described by `remote`.
  // protocol == nullopt: an L4 protocol other than TCP/UDP/SCTP.
  TwinVerdict Lookup(uint32_t local, const wd_ipcache_value& remote, uint8_t direction,
                     std::optional<Protocol> protocol, uint16_t port) const;

 private:
  const Snapshot& snap_;
  KernelPortsets portsets_;  // the snapshot's port sets as the kernel holds them
  // prefixlen (descending) -> masked key bytes -> value
  std::map<uint32_t, absl::flat_hash_map<std::string, wd_ipcache_value>, std::greater<uint32_t>>
      lpm_;
};

}  // namespace warden::policy
