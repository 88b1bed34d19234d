// The Kubernetes objects Warden enforces, as plain structs after validation and defaulting.
// Only what the semantics need is kept; SourceRef says where each object came from.
#pragma once

#include <cstdint>
#include <optional>
#include <string>
#include <variant>
#include <vector>

#include "agent/policy/ip.h"
#include "agent/policy/labels.h"
#include "agent/policy/protocol.h"

namespace warden::policy {

inline constexpr char kNamespaceNameLabel[] = "kubernetes.io/metadata.name";

struct SourceRef {
  std::string file;
  int line = 0;  // 1-based; 0 when unknown
  bool operator==(const SourceRef&) const = default;
};

struct Namespace {
  std::string name;
  Labels labels;          // always includes kubernetes.io/metadata.name
  bool implicit = false;  // created because a pod or policy named it, not declared
  SourceRef source;
  bool operator==(const Namespace&) const = default;
};

// The node label that names a node's pool, and the pool whose nodes are egress gateways: only
// gateway-pool nodes may reach the world, and there only from gateway pods.
inline constexpr char kNodePoolLabel[] = "cloud.google.com/gke-nodepool";
inline constexpr char kGatewayPool[] = "gateway";

struct Node {
  std::string name;
  Labels labels;
  std::vector<Cidr> pod_cidrs;       // spec.podCIDR(s)
  std::vector<IpAddress> addresses;  // status.addresses InternalIP/ExternalIP
  SourceRef source;
};

inline bool IsGatewayPool(const Node& n) {
  auto it = n.labels.find(kNodePoolLabel);
  return it != n.labels.end() && it->second == kGatewayPool;
}

struct ContainerPort {
  std::string name;  // may be empty
  int port = 0;
  Protocol protocol = Protocol::kTCP;
};

struct Pod {
  std::string ns;
  std::string name;
  std::string uid;
  Labels labels;
  std::string service_account = "default";
  std::string node_name;
  bool host_network = false;
  std::vector<ContainerPort> ports;
  std::vector<IpAddress> ips;  // status.podIPs, podIP first
  SourceRef source;

  std::string Key() const { return ns + "/" + name; }
};

// A NetworkPolicyPort after defaulting: protocol defaults to TCP; no port = all ports.
struct PolicyPort {
  Protocol protocol = Protocol::kTCP;
  std::variant<std::monostate, int, std::string> port;  // none, number, or named port
  std::optional<int> end_port;
  bool operator==(const PolicyPort&) const = default;
};

struct IpBlock {
  Cidr cidr;
  std::vector<Cidr> except;
  bool operator==(const IpBlock&) const = default;
};

// A NetworkPolicyPeer. Validation guarantees either ip_block alone, or at least one selector.
struct PolicyPeer {
  std::optional<LabelSelector> pod_selector;
  std::optional<LabelSelector> namespace_selector;
  std::optional<IpBlock> ip_block;
  bool operator==(const PolicyPeer&) const = default;
};

// One ingress or egress rule. Empty peers = every peer; empty ports = every port and protocol.
struct PolicyRule {
  std::vector<PolicyPeer> peers;
  std::vector<PolicyPort> ports;
  bool operator==(const PolicyRule&) const = default;
};

struct NetworkPolicy {
  std::string ns;
  std::string name;
  LabelSelector pod_selector;
  bool affects_ingress = false;  // policyTypes after defaulting
  bool affects_egress = false;
  std::vector<PolicyRule> ingress;
  std::vector<PolicyRule> egress;
  SourceRef source;

  std::string Key() const { return ns + "/" + name; }
  bool operator==(const NetworkPolicy&) const = default;
};

}  // namespace warden::policy
