// Everything the manifests (or, later, the API server) say about the cluster, validated.
#pragma once

#include <map>
#include <string>

#include "absl/container/flat_hash_map.h"
#include "agent/policy/objects.h"

namespace warden::policy {

struct ClusterState {
  std::map<std::string, Namespace> namespaces;    // by name
  std::map<std::string, Node> nodes;              // by name
  std::map<std::string, Pod> pods;                // by "ns/name"
  std::map<std::string, NetworkPolicy> policies;  // by "ns/name"

  const Pod* FindPod(const std::string& ns_slash_name) const;
  // The pod that owns `ip` (hostNetwork pods own none). Built by IndexPodIps().
  const Pod* FindPodByIp(const IpAddress& ip) const;
  // Gives every namespace named by a pod or policy an object, then indexes pod IPs.
  // Call after the objects are in place.
  void Finalize();

 private:
  absl::flat_hash_map<IpAddress, const Pod*> pod_by_ip_;
};

}  // namespace warden::policy
