#include "agent/nodestate/node_state.h"

namespace warden::nodestate {

bool NodeState::SameContents(const NodeState& o) const {
  return node == o.node && node_addresses == o.node_addresses && pool == o.pool &&
         allowances == o.allowances && gateways == o.gateways && pods == o.pods &&
         identities == o.identities && policy == o.policy && portsets == o.portsets &&
         ipcache == o.ipcache && namespaces == o.namespaces &&
         network_policies == o.network_policies;
}

size_t NodeState::PolicyEntries() const {
  size_t n = 0;
  for (const auto& [_, b] : policy) n += b->size();
  return n;
}

}  // namespace warden::nodestate
