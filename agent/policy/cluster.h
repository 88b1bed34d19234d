// Everything the manifests (or, later, the API server) say about the cluster, validated.
#pragma once

#include <map>
#include <memory>
#include <string>

#include "absl/container/flat_hash_map.h"
#include "agent/common/shared.h"
#include "agent/policy/istio_objects.h"
#include "agent/policy/objects.h"

namespace warden::policy {

// Each kind's map is shared (copy on write) between the states of successive loads that did not
// change it: a NetworkPolicy edit does not copy 10,000 pods, and whoever compares two states (the
// compiler, the node states) can tell an unchanged kind by identity (SameObject).
struct ClusterState {
  common::SharedMap<std::map<std::string, Namespace>> namespaces;    // by name
  common::SharedMap<std::map<std::string, Node>> nodes;              // by name
  common::SharedMap<std::map<std::string, Pod>> pods;                // by "ns/name"
  common::SharedMap<std::map<std::string, NetworkPolicy>> policies;  // by "ns/name"
  // Istio's egress objects, by "ns/name" (agent/egress/ gives them their meaning).
  common::SharedMap<std::map<std::string, ServiceEntry>> service_entries;
  common::SharedMap<std::map<std::string, DestinationRule>> destination_rules;
  common::SharedMap<std::map<std::string, AuthorizationPolicy>> authorization_policies;

  const Pod* FindPod(const std::string& ns_slash_name) const;
  // The pod that owns `ip` (hostNetwork pods own none). Built by Finalize().
  const Pod* FindPodByIp(const IpAddress& ip) const;
  // Gives every namespace named by a pod or policy an object, then indexes pod IPs.
  // Call after the objects are in place (and again after changing them).
  void Finalize();
  // Takes what `o`'s Finalize() made, for this one's to keep where it was made of these very
  // maps: the pod IP index, and that every pod's namespace has an object.
  void AdoptIndexOf(const ClusterState& o) {
    pod_ip_index_ = o.pod_ip_index_;
    namespaces_checked_ = o.namespaces_checked_;
  }

 private:
  struct PodIpIndex {
    std::shared_ptr<const std::map<std::string, Pod>> of;  // the pods it points into
    absl::flat_hash_map<IpAddress, const Pod*> by_ip;
  };
  std::shared_ptr<const PodIpIndex> pod_ip_index_;
  // The pods and namespaces maps of the last Finalize(): while both are still these maps,
  // every pod's namespace has an object (150,000 pods are not walked again for a policy edit).
  struct NamespacesChecked {
    std::shared_ptr<const void> pods, namespaces;
  } namespaces_checked_;
};

}  // namespace warden::policy
