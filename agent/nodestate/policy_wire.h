// The packed wire form of policy entries (v1::PolicyEntries): a node's entries are tens of
// thousands in a large cluster, and one PolicyEntry each would be most of its full update.
#pragma once

#include <functional>
#include <optional>
#include <string>
#include <utility>
#include <vector>

#include "absl/status/status.h"
#include "agent/policy/snapshot.h"
#include "warden/v1/sync.pb.h"
#include "warden_structs.h"

namespace warden::nodestate {

// Collects entries (or keys alone: a list of removals) and writes them packed, in key order.
class PolicyEntriesWriter {
 public:
  void Add(const policy::PolicyKey& k, const wd_policy_value& v);
  void Add(const policy::PolicyKey& k);  // a removal
  bool empty() const { return entries_.empty(); }
  void Write(v1::PolicyEntries* out);

 private:
  std::vector<std::pair<policy::PolicyKey, wd_policy_value>> entries_;
  bool with_values_ = false;
};

// Reads a packed list: fn(key, value) for each entry (value: nullopt in a list of removals,
// which `removals` says it must be). Keys are checked as one PolicyKey on the wire is (a pod
// identity as the local one, a remote identity, a direction); port set ids must fit 16 bits (that
// they name existing sets is the caller's check). Errors name `field`; fn is not called for
// anything when the list is malformed.
absl::Status ReadPolicyEntries(
    const v1::PolicyEntries& in, const std::string& field, bool removals,
    const std::function<void(const policy::PolicyKey&, const std::optional<wd_policy_value>&)>& fn);

}  // namespace warden::nodestate
