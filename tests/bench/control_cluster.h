// The synthetic cluster of control_bench: `namespaces` namespaces x `apps` apps x `replicas`
// replicas, round-robin over `nodes` Node objects. The first two namespaces are kube-system
// (CoreDNS) and monitoring (Prometheus). Each namespace has 5 NetworkPolicies: default-deny,
// allow-same-namespace, web from namespaces labelled web-access: "true" on the named port http,
// DNS egress to kube-dns, scraping from monitoring. toggle.yaml holds the policy a round changes:
// it selects every pod of one namespace (whose pods are on every node), with ingress from
// env: staging namespaces on a port that alternates between 7000 and 7001.
#pragma once

#include <cstddef>
#include <string>
#include <vector>

namespace warden::bench {

struct ClusterSpec {
  int namespaces = 100, apps = 10, replicas = 10, nodes = 20;
  int toggle_ns = 2;  // the namespace whose policy changes each round
};

struct PodInfo {
  std::string uid;
  int node;
};

// The text of toggle.yaml with its ingress on `port`.
std::string TogglePolicy(const ClusterSpec& c, int port);

// Writes toggle.yaml with its ingress on `port` at `path`. Throws Failure.
void WriteToggle(const ClusterSpec& c, const std::string& path, int port);

// Writes nodes.yaml, ns/<namespace>.yaml (namespace, pods, policies) and toggle.yaml (port
// 7000) under `dir`; returns every pod's uid and node, and the bytes written in `*bytes`.
std::vector<PodInfo> WriteManifests(const ClusterSpec& c, const std::string& dir, size_t* bytes);

}  // namespace warden::bench
