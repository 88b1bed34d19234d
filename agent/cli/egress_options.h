// The options `warden explain` and `warden audit` share: what the world is for the node pools'
// lockdown (as the agents are given it), and how the egress gateway and Istio's namespaces are
// named (as the gateway is given them).
#pragma once

#include <string>
#include <vector>

#include <boost/program_options.hpp>

#include "agent/egress/gateway_config.h"

namespace warden::cli {

inline void AddWorldOptions(boost::program_options::options_description_easy_init& add,
                            std::vector<std::string>* allow, std::vector<std::string>* cluster,
                            std::string* gateway_namespace) {
  namespace po = boost::program_options;
  add("allow-world", po::value(allow)->composing(),
      "a world destination default-pool nodes may reach directly, as the agents are given it: "
      "CIDR[:PORT[-END]][/TCP|UDP|SCTP] (repeatable)");
  add("cluster-cidr", po::value(cluster)->composing(),
      "an address range inside the cluster besides podCIDRs, as the agents are given it");
  add("gateway-namespace", po::value(gateway_namespace)->default_value("warden-egress"),
      "namespace whose pods are egress gateways");
}

inline void AddGatewayOptions(boost::program_options::options_description_easy_init& add,
                              egress::GatewayOptions* g, std::string* gateway_port) {
  namespace po = boost::program_options;
  add("root-namespace", po::value(&g->root_namespace)->default_value("istio-system"),
      "Istio's root namespace: its AuthorizationPolicies and DestinationRules apply everywhere");
  add("trust-domain", po::value(&g->authz.trust_domain)->default_value("cluster.local"),
      "the mesh's trust domain (principals are TD/ns/NS/sa/SA)");
  add("trust-domain-alias", po::value(&g->authz.trust_domain_aliases)->composing(),
      "another name of the mesh's trust domain: a principal naming it means this mesh's "
      "(repeatable)");
  add("gateway-name", po::value(&g->gateway_name)->default_value("warden-gateway"),
      "the Gateway an AuthorizationPolicy's targetRefs may name");
  add("gateway-port", po::value(gateway_port)->default_value("mtls"),
      "the gateway pods' port (number or name) a pod's traffic reaches them on");
}

}  // namespace warden::cli
