#include "agent/policy/model.h"

#include <algorithm>

#include "absl/strings/str_cat.h"
#include "absl/strings/str_join.h"

namespace warden::policy {

const char* DirectionName(Direction d) { return d == Direction::kIngress ? "ingress" : "egress"; }

std::string Endpoint::ToString() const {
  if (pod) return ip ? absl::StrCat(pod->Key(), " (", ip->ToString(), ")") : pod->Key();
  return ip ? ip->ToString() : "?";
}

bool Model::Selects(const NetworkPolicy& np, const Pod& pod) const {
  return !pod.host_network && np.ns == pod.ns && np.pod_selector.Matches(pod.labels);
}

bool Model::PeerMatches(const NetworkPolicy& np, const PolicyPeer& peer, const Endpoint& ep) const {
  if (peer.ip_block) {
    // ipBlock matches any address, pod addresses included (as the upstream conformance tests
    // expect); an endpoint without an address matches no ipBlock.
    if (!ep.ip || !peer.ip_block->cidr.Contains(*ep.ip)) return false;
    for (const auto& ex : peer.ip_block->except) {
      if (ex.Contains(*ep.ip)) return false;
    }
    return true;
  }
  if (!ep.pod) return false;  // selectors select pods only
  if (peer.namespace_selector) {
    auto ns = state_.namespaces.find(ep.pod->ns);
    if (ns == state_.namespaces.end() || !peer.namespace_selector->Matches(ns->second.labels))
      return false;
  } else if (ep.pod->ns != np.ns) {
    return false;  // podSelector alone: the policy's own namespace
  }
  if (ep.labels_unknown) return !peer.pod_selector || peer.pod_selector->Empty();
  return !peer.pod_selector || peer.pod_selector->Matches(ep.pod->labels);
}

std::optional<int> Model::ResolveNamedPort(const Pod& pod, const std::string& name,
                                           Protocol proto) {
  for (const auto& cp : pod.ports) {
    if (cp.name == name && cp.protocol == proto) return cp.port;
  }
  return std::nullopt;
}

bool Model::PortMatches(const PolicyPort& pp, const L4& l4, const Pod* dest) {
  if (!l4.protocol || *l4.protocol != pp.protocol) return false;
  if (std::holds_alternative<std::monostate>(pp.port)) return true;
  if (const int* p = std::get_if<int>(&pp.port)) {
    int end = pp.end_port.value_or(*p);
    return l4.port >= *p && l4.port <= end;
  }
  if (!dest) return false;  // a named port resolves only on a destination pod
  // Two containers of a pod may give a port the same name (names are unique per container
  // only): the name stands for each of their ports, as in the compiled tables.
  const std::string& name = std::get<std::string>(pp.port);
  return std::any_of(dest->ports.begin(), dest->ports.end(), [&](const ContainerPort& cp) {
    return cp.name == name && cp.protocol == pp.protocol && cp.port == l4.port;
  });
}

bool Model::FromOwnNode(const Pod& pod, const Endpoint& remote) const {
  if (!remote.ip || remote.pod) return false;
  auto n = state_.nodes.find(pod.node_name);
  if (n == state_.nodes.end()) return false;
  for (const auto& a : n->second.addresses) {
    if (a == *remote.ip) return true;
  }
  return false;
}

SideDecision Model::Evaluate(Direction dir, const Pod& local, const Endpoint& remote,
                             const L4& l4) const {
  SideDecision d;
  if (dir == Direction::kIngress && FromOwnNode(local, remote)) {
    // "Pods cannot block access from their resident node" (NetworkPolicy documentation).
    for (const auto& [key, np] : state_.policies) {
      if (np.affects_ingress && Selects(np, local)) {
        d.isolated = true;
        d.isolating_policies.push_back(key);
      }
    }
    d.allowed = true;
    d.from_own_node = true;
    d.reason = absl::StrCat("from ", local.Key(), "'s own node ", local.node_name,
                            " (a pod cannot block its node)");
    return d;
  }
  const char* type = dir == Direction::kIngress ? "Ingress" : "Egress";
  for (const auto& [key, np] : state_.policies) {
    if (np.ns != local.ns || !Selects(np, local)) continue;
    bool affects = dir == Direction::kIngress ? np.affects_ingress : np.affects_egress;
    if (!affects) continue;
    d.isolated = true;
    d.isolating_policies.push_back(key);
    if (d.allowed) continue;
    const auto& rules = dir == Direction::kIngress ? np.ingress : np.egress;
    const Pod* dest = dir == Direction::kIngress ? &local : remote.pod;
    for (size_t r = 0; r < rules.size() && !d.allowed; ++r) {
      const PolicyRule& rule = rules[r];
      bool peer_ok = rule.peers.empty();
      for (const auto& peer : rule.peers) {
        if (PeerMatches(np, peer, remote)) {
          peer_ok = true;
          break;
        }
      }
      if (!peer_ok) continue;
      bool port_ok = rule.ports.empty();
      for (const auto& pp : rule.ports) {
        if (PortMatches(pp, l4, dest)) {
          port_ok = true;
          break;
        }
      }
      if (!port_ok) continue;
      d.allowed = true;
      d.allowing_policy = key;
      d.rule_index = static_cast<int>(r);
    }
  }
  std::string what =
      l4.protocol ? absl::StrCat(ProtocolName(*l4.protocol), "/", l4.port) : "non-TCP/UDP/SCTP";
  if (!d.isolated) {
    d.allowed = true;
    d.reason =
        absl::StrCat("no NetworkPolicy selects ", local.Key(), " for ", type, " (not isolated)");
  } else if (d.allowed) {
    d.reason = absl::StrCat("allowed by NetworkPolicy ", d.allowing_policy, " ", DirectionName(dir),
                            " rule ", d.rule_index, " (", what,
                            dir == Direction::kIngress ? " from " : " to ", remote.ToString(), ")");
  } else {
    d.reason = absl::StrCat(local.Key(), " is isolated for ", type, " by ",
                            absl::StrJoin(d.isolating_policies, ", "), " and no ",
                            DirectionName(dir), " rule allows ", what,
                            dir == Direction::kIngress ? " from " : " to ", remote.ToString());
  }
  return d;
}

}  // namespace warden::policy
