// The agent's verdict log: one JSON object per line for each event the datapath reports (every
// denied packet or connect, and every newly admitted flow), naming the pod, its identity, the
// addresses and ports, the verdict, the reason and the NetworkPolicy involved.
#pragma once

#include <cstdint>
#include <cstdio>
#include <string>

#include "absl/container/flat_hash_map.h"
#include "agent/nodestate/node_state.h"
#include "warden_structs.h"

namespace warden::node {

struct EventContext {
  std::string node;
  // The state in force: names pods, accounts and (from the NetworkPolicies and namespaces it
  // was compiled from) the policy behind a verdict, whichever source it came from.
  const nodestate::NodeState* desired = nullptr;
  const absl::flat_hash_map<uint64_t, std::string>* pod_by_cgroup =
      nullptr;  // pod cgroup id -> "ns/name"
};

// The JSON line (without the newline) for one event. `wall_ns` is the event's wall-clock time.
std::string VerdictLogLine(const wd_event& e, int64_t wall_ns, const EventContext& ctx);

}  // namespace warden::node
