// The synthetic cluster of compile_bench, as manifest YAML: `namespaces` namespaces (the first
// two kube-system with CoreDNS and monitoring with Prometheus) with 10 apps x 10 replicas each,
// over as many nodes as namespaces, dual-stack pods with named ports, and ten NetworkPolicies
// per namespace (docs/benchmarks.md lists them).
#pragma once

#include <string>
#include <utility>
#include <vector>

namespace warden::bench {

struct Cluster {
  std::vector<std::pair<std::string, std::string>> files;  // one per namespace, plus nodes
  int pods = 0, policies = 0, nodes = 0;
};

Cluster Generate(int namespaces);

}  // namespace warden::bench
