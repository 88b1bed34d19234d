// How a pod's traffic reaches the gateway (agent/egress/gateway_hop.h): its own egress must allow
// the gateway, and the gateway's ingress must admit the pod's node (its forwarder), not the pod.
#include <gmock/gmock.h>
#include <gtest/gtest.h>

#include "absl/strings/str_cat.h"
#include "agent/egress/gateway_hop.h"
#include "agent/policy/manifest_loader.h"

namespace warden::egress {
namespace {

using testing::HasSubstr;

const char kCluster[] = R"(
apiVersion: v1
kind: Node
metadata: {name: d1}
status: {addresses: [{type: InternalIP, address: 10.10.0.11}]}
---
apiVersion: v1
kind: Pod
metadata: {name: gw, namespace: warden-egress, labels: {app: warden-gateway}}
spec: {nodeName: g1, containers: [{name: c, ports: [{name: mtls, containerPort: 15443}]}]}
status: {podIP: 10.0.3.10}
---
apiVersion: v1
kind: Pod
metadata: {name: a, namespace: x, labels: {app: a}}
spec: {nodeName: d1, containers: [{name: c}]}
status: {podIP: 10.0.1.10}
---
apiVersion: networking.k8s.io/v1
kind: NetworkPolicy
metadata: {name: only-gateway, namespace: x}
spec:
  podSelector: {}
  policyTypes: [Egress]
  egress: [{to: [{namespaceSelector: {matchLabels: {kubernetes.io/metadata.name: warden-egress}}}]}]
)";

std::string GatewayIngressFrom(const std::string& peer) {
  return absl::StrCat(R"(
---
apiVersion: networking.k8s.io/v1
kind: NetworkPolicy
metadata: {name: gateway, namespace: warden-egress}
spec:
  podSelector: {matchLabels: {app: warden-gateway}}
  policyTypes: [Ingress]
  ingress: [{from: [)",
                      peer, R"(], ports: [{port: mtls}]}]
)");
}

GatewayHop Hop(const std::string& yaml) {
  policy::LoadResult r = policy::LoadManifestTexts({{"t.yaml", yaml}});
  EXPECT_THAT(r.errors, testing::IsEmpty()) << (r.errors.empty() ? "" : r.errors[0].ToString());
  policy::Model model(r.state);
  return CheckGatewayHop(r.state, model, "warden-egress", *r.state.FindPod("x/a"), "mtls");
}

TEST(GatewayHopTest, TheGatewaysIngressMustAdmitThePodsNodeNotThePod) {
  GatewayHop nodes =
      Hop(std::string(kCluster) + GatewayIngressFrom("{ipBlock: {cidr: 10.10.0.0/24}}"));
  EXPECT_TRUE(nodes.allowed) << nodes.reason;
  EXPECT_EQ(nodes.gateway, "warden-egress/gw");
  EXPECT_EQ(nodes.node, "d1");
  EXPECT_THAT(nodes.reason, HasSubstr("node d1's forwarder (10.10.0.11)"));

  // An ingress that names the pods' namespaces admits no forwarder: the pods never connect to
  // the gateway themselves.
  GatewayHop pods =
      Hop(std::string(kCluster) + GatewayIngressFrom("{namespaceSelector: {matchLabels: "
                                                     "{kubernetes.io/metadata.name: x}}}"));
  EXPECT_FALSE(pods.allowed);
  EXPECT_THAT(pods.reason, HasSubstr("the gateway's ingress denies node d1's forwarder"));
}

TEST(GatewayHopTest, ThePodsOwnEgressMustAllowTheGateway) {
  std::string yaml = std::string(kCluster) + GatewayIngressFrom("{ipBlock: {cidr: 10.10.0.0/24}}");
  yaml.replace(yaml.find("kubernetes.io/metadata.name: warden-egress"),
               std::string("kubernetes.io/metadata.name: warden-egress").size(),
               "kubernetes.io/metadata.name: elsewhere");
  GatewayHop h = Hop(yaml);
  EXPECT_FALSE(h.allowed);
  EXPECT_THAT(h.reason, HasSubstr("its egress to the gateway is denied"));
}

}  // namespace
}  // namespace warden::egress
