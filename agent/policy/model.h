// The straightforward reading of NetworkPolicy (networking.k8s.io/v1, L4): evaluates one side
// of one flow directly from the objects, rule by rule. It is the reference the compiled tables
// are tested against, and it supplies the "why" that `explain` prints.
#pragma once

#include <optional>
#include <string>
#include <vector>

#include "agent/policy/cluster.h"

namespace warden::policy {

enum class Direction { kIngress, kEgress };
const char* DirectionName(Direction d);

// One end of a flow: a pod (with the address it uses, if it has one) or a bare address.
struct Endpoint {
  const Pod* pod = nullptr;  // never a hostNetwork pod: those are addressed as their node
  std::optional<IpAddress> ip;
  // The pod's namespace is known, its labels (and ports) are not: only peers that select
  // every pod of a namespace can match it. A node's verdict log knows its peers this way when
  // no entry of its pods names the peer's own identity (no pod-selecting rule allows it).
  bool labels_unknown = false;
  std::string ToString() const;
};

// protocol == nullopt means an L4 protocol NetworkPolicy cannot name (ICMP, ...).
struct L4 {
  std::optional<Protocol> protocol;
  int port = 0;
};

struct SideDecision {
  bool allowed = false;
  bool isolated = false;
  std::vector<std::string> isolating_policies;  // "ns/name" of the policies selecting the pod
  std::string allowing_policy;                  // "ns/name"
  int rule_index = -1;
  bool from_own_node = false;  // ingress from the pod's own node: always allowed
  std::string reason;
};

class Model {
 public:
  explicit Model(const ClusterState& state) : state_(state) {}

  // Egress: may `local` send to `remote`? Ingress: may `local` receive from `remote`?
  SideDecision Evaluate(Direction dir, const Pod& local, const Endpoint& remote,
                        const L4& l4) const;

  bool Selects(const NetworkPolicy& np, const Pod& pod) const;
  // An address of the node `pod` runs on (traffic from there is always admitted).
  bool FromOwnNode(const Pod& pod, const Endpoint& remote) const;
  bool PeerMatches(const NetworkPolicy& np, const PolicyPeer& peer, const Endpoint& ep) const;
  // `dest` is the pod receiving the traffic (resolves named ports), or null for an address.
  static bool PortMatches(const PolicyPort& pp, const L4& l4, const Pod* dest);
  // The number of the first of `pod`'s ports with that name and protocol (a name may stand for
  // several ports when two containers use it; PortMatches accepts each of them).
  static std::optional<int> ResolveNamedPort(const Pod& pod, const std::string& name,
                                             Protocol proto);

 private:
  const ClusterState& state_;
};

}  // namespace warden::policy
