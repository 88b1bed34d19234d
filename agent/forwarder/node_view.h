// What the forwarder knows of its node: the local pods by cgroup id (whom a record names) and the
// egress gateways, from the state the agent put in force last. The agent updates it after every
// apply; each flow reads one immutable snapshot.
#pragma once

#include <cstdint>
#include <memory>
#include <mutex>
#include <string>
#include <vector>

#include "absl/container/flat_hash_map.h"
#include "absl/status/statusor.h"
#include "agent/nodestate/flow_header.h"
#include "agent/nodestate/node_state.h"
#include "agent/policy/ip.h"

namespace warden::forwarder {

struct PodInfo {
  std::string ns, name, service_account;
  uint32_t identity = 0;
  std::vector<policy::IpAddress> addresses;
};

struct NodeSnapshot {
  absl::flat_hash_map<uint64_t, PodInfo> pods;  // by the pod's cgroup id
  std::vector<nodestate::GatewayEndpoint> gateways;
};

// The snapshot of state `s`, whose local pods' cgroups are `pod_by_cgroup` (id -> "ns/name").
NodeSnapshot SnapshotOf(const nodestate::NodeState& s,
                        const absl::flat_hash_map<uint64_t, std::string>& pod_by_cgroup);

class NodeView {
 public:
  void Update(const nodestate::NodeState& s,
              const absl::flat_hash_map<uint64_t, std::string>& pod_by_cgroup);
  std::shared_ptr<const NodeSnapshot> Get() const;

 private:
  mutable std::mutex mu_;
  std::shared_ptr<const NodeSnapshot> snap_ = std::make_shared<NodeSnapshot>();
};

// A redirected connection's record (bpf/warden_forward.h), as the forwarder reads it.
struct Record {
  uint64_t cgroup_id = 0;
  uint64_t cookie = 0;
  uint32_t identity = 0;
  policy::IpAddress original_ip;
  uint16_t original_port = 0;
};

// The flow header of a connection from `peer` with record `r`: the pod the record names, which
// must be known and own `peer` (the connection's source address); else an error saying which.
absl::StatusOr<nodestate::Flow> FlowOf(const NodeSnapshot& snap, const Record& r,
                                       const policy::IpAddress& peer);

}  // namespace warden::forwarder
