// The cluster datapath_bench [3] runs the agent on: 20 namespaces x 100 pods, the first 1,000 on
// bench-node and the rest on other-node (empty-node has none), five NetworkPolicies per
// namespace.
#pragma once

#include <string>

namespace warden::bench {

// The uid of pod i (0-based): bb000000-0000-4000-8000-<i, 12 digits>.
std::string RssPodUid(int i);

// Writes nodes.yaml and one file per namespace under `dir`; returns the number of pods.
int WriteRssManifests(const std::string& dir);

}  // namespace warden::bench
