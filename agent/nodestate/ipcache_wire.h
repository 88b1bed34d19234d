// The packed wire form of the ipcache's addresses (v1::IpcacheHosts): pod and node addresses are
// most of an ipcache (150,000 in a cluster at Kubernetes' published scale), and one
// IpcacheEntry each would make every node's full update megabytes.
#pragma once

#include <functional>
#include <optional>
#include <string>
#include <vector>

#include "absl/status/status.h"
#include "agent/policy/ip.h"
#include "warden/v1/sync.pb.h"
#include "warden_structs.h"

namespace warden::nodestate {

// Whether the ipcache keeps `c` with the addresses (a full-length prefix) or with the prefixes.
inline bool IsHostPrefix(const policy::Cidr& c) { return c.prefix_len == c.addr.bits(); }

// Collects addresses (with their identities, or without: a list of removals) and writes them
// packed. Addresses may come in any order.
class IpcacheHostsWriter {
 public:
  void Add(const policy::IpAddress& a, const wd_ipcache_value& v);
  void Add(const policy::IpAddress& a);  // a removal
  bool empty() const { return v4_.empty() && v6_.empty(); }
  void Write(v1::IpcacheHosts* out);

 private:
  struct Row {
    policy::IpAddress addr;
    wd_ipcache_value value;
  };
  std::vector<Row> v4_, v6_;
  bool with_values_ = false;
};

// A namespace identity keys entries that hold for every pod of the namespace: one given where it
// does not belong would let those entries through for another address. `field` names the value.
absl::Status CheckNamespaceIdentity(uint32_t identity, uint32_t ns, const std::string& field);

// Reads a packed list: fn(address, value) for each address (value: nullopt in a list of
// removals, which `removals` says it must be). Errors name `field` and what is wrong; fn is
// not called for anything when the list is malformed.
absl::Status ReadIpcacheHosts(
    const v1::IpcacheHosts& in, const std::string& field, bool removals,
    const std::function<void(const policy::IpAddress&, const std::optional<wd_ipcache_value>&)>&
        fn);

}  // namespace warden::nodestate
