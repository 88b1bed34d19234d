// Tests of the egress exposure report (agent/egress/audit.h): direct destinations (NetworkPolicy
// within the node pools' lockdown), gateway hosts (ServiceEntry + AuthorizationPolicy, the hop to
// the gateway included), registered hosts nobody reaches and policies that allow nothing.
#include <gmock/gmock.h>
#include <gtest/gtest.h>

#include <string>

#include "absl/strings/str_cat.h"
#include "agent/egress/audit.h"
#include "agent/policy/manifest_loader.h"

namespace warden::egress {
namespace {

using ::testing::ElementsAre;
using ::testing::HasSubstr;
using ::testing::IsEmpty;

const char kCluster[] = R"(
apiVersion: v1
kind: Node
metadata: {name: d1, labels: {cloud.google.com/gke-nodepool: default-pool}}
---
apiVersion: v1
kind: Node
metadata: {name: g1, labels: {cloud.google.com/gke-nodepool: gateway}}
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
spec: {nodeName: d1, serviceAccountName: sa-a, containers: [{name: c}]}
status: {podIP: 10.0.1.10}
---
apiVersion: v1
kind: Pod
metadata: {name: a2, namespace: x, labels: {app: a}}
spec: {nodeName: d1, serviceAccountName: sa-a, containers: [{name: c}]}
status: {podIP: 10.0.1.11}
---
apiVersion: v1
kind: Pod
metadata: {name: b, namespace: y, labels: {app: b}}
spec: {nodeName: d1, containers: [{name: c}]}
status: {podIP: 10.0.1.20}
---
apiVersion: v1
kind: Pod
metadata: {name: c, namespace: z, labels: {app: c}}
spec: {nodeName: d1, containers: [{name: c}]}
status: {podIP: 10.0.1.30}
---
# z may not reach the gateway; x reaches the metadata server only.
apiVersion: networking.k8s.io/v1
kind: NetworkPolicy
metadata: {name: deny-egress, namespace: z}
spec: {podSelector: {}, policyTypes: [Egress]}
---
apiVersion: networking.k8s.io/v1
kind: NetworkPolicy
metadata: {name: metadata-and-gateway, namespace: x}
spec:
  podSelector: {}
  policyTypes: [Egress]
  egress:
  - to: [{ipBlock: {cidr: 169.254.169.254/32}}]
    ports: [{port: 80}]
  - to: [{namespaceSelector: {matchLabels: {kubernetes.io/metadata.name: warden-egress}}}]
---
apiVersion: networking.istio.io/v1
kind: ServiceEntry
metadata: {name: api, namespace: warden-egress}
spec:
  hosts: [api.example.com, unused.example.com]
  ports: [{number: 80, name: http, protocol: HTTP}]
---
apiVersion: security.istio.io/v1
kind: AuthorizationPolicy
metadata: {name: x-api, namespace: warden-egress}
spec:
  rules:
  - from: [{source: {namespaces: [x]}}]
    to: [{operation: {hosts: [api.example.com], methods: [GET], paths: [/v1/*]}}]
    when: [{key: "request.headers[x-team]", values: [x]}]
---
apiVersion: security.istio.io/v1
kind: AuthorizationPolicy
metadata: {name: y-everything, namespace: warden-egress}
spec:
  rules:
  - from: [{source: {namespaces: [y]}}]
---
apiVersion: security.istio.io/v1
kind: AuthorizationPolicy
metadata: {name: no-admin, namespace: warden-egress}
spec:
  action: DENY
  rules:
  - to: [{operation: {paths: [/admin*]}}]
---
apiVersion: security.istio.io/v1
kind: AuthorizationPolicy
metadata: {name: nobody, namespace: warden-egress}
spec:
  rules:
  - from: [{source: {namespaces: [no-such-namespace]}}]
---
apiVersion: security.istio.io/v1
kind: AuthorizationPolicy
metadata: {name: empty, namespace: warden-egress}
spec: {}
---
apiVersion: security.istio.io/v1
kind: AuthorizationPolicy
metadata: {name: elsewhere, namespace: x}
spec:
  rules: [{}]
)";

class AuditTest : public ::testing::Test {
 protected:
  void SetUp() override {
    loaded_ = policy::LoadManifestTexts({{"c.yaml", kCluster}});
    ASSERT_THAT(loaded_.errors, IsEmpty()) << loaded_.errors[0].ToString();
    gateway_ = std::make_unique<GatewayConfig>(loaded_.state, GatewayOptions{});
    policy::LockdownOptions lockdown;
    lockdown.allowances = {*policy::ParseAllowance("169.254.169.254/32:80/TCP"),
                           *policy::ParseAllowance("199.36.153.8/30:443/TCP")};
    report_ = Audit(loaded_.state, *gateway_, lockdown, "mtls");
  }
  const IdentityAudit& Of(const std::string& ns) const {
    for (const auto& ia : report_.identities) {
      if (ia.identity.ns == ns) return ia;
    }
    ADD_FAILURE() << "no identity in " << ns;
    return report_.identities.front();
  }

  policy::LoadResult loaded_;
  std::unique_ptr<GatewayConfig> gateway_;
  AuditReport report_;
};

TEST_F(AuditTest, IdentitiesGroupTheirPods) {
  const IdentityAudit& x = Of("x");
  EXPECT_EQ(x.identity.service_account, "sa-a");
  EXPECT_THAT(x.identity.pods, ElementsAre("x/a", "x/a2"));
}

TEST_F(AuditTest, DirectIsNetworkPolicyWithinTheLockdown) {
  const IdentityAudit& x = Of("x");
  ASSERT_EQ(x.direct.size(), 1u);  // the metadata server; the API VIPs are not in its policy
  EXPECT_EQ(x.direct[0].destination, "169.254.169.254/32");
  EXPECT_EQ(x.direct[0].ports, "80");
  EXPECT_EQ(x.direct[0].allowed_by, "NetworkPolicy x/metadata-and-gateway egress rule 0");
  // y is not isolated: every allowance.
  EXPECT_EQ(Of("y").direct.size(), 2u);
  EXPECT_EQ(Of("y").direct[0].allowed_by, "no NetworkPolicy isolates its egress");
  EXPECT_THAT(Of("z").direct, IsEmpty());
  // The gateway pod reaches the world on 80 and 443 (no NetworkPolicy isolates it here).
  const IdentityAudit& gw = Of("warden-egress");
  ASSERT_EQ(gw.direct.size(), 4u);
  EXPECT_EQ(gw.direct[0].node_pool, "gateway");
}

TEST_F(AuditTest, ThroughTheGateway) {
  const IdentityAudit& x = Of("x");
  ASSERT_EQ(x.gateway.size(), 1u);
  const GatewayExposure& e = x.gateway[0];
  EXPECT_EQ(e.host, "api.example.com");
  EXPECT_EQ(e.port, 80u);
  EXPECT_THAT(e.methods, ElementsAre("GET"));
  EXPECT_THAT(e.paths, ElementsAre("/v1/*"));
  EXPECT_THAT(e.conditions, ElementsAre("request.headers[x-team] in [x]"));
  EXPECT_EQ(e.allowed_by, "warden-egress/x-api rule 0");
  EXPECT_THAT(e.denied_by, ElementsAre("warden-egress/no-admin rule 0"));
  // y: every registered host, any method and path.
  const IdentityAudit& y = Of("y");
  ASSERT_EQ(y.gateway.size(), 2u);
  EXPECT_THAT(y.gateway[0].paths, IsEmpty());
  // z cannot reach the gateway at all.
  EXPECT_THAT(Of("z").gateway, IsEmpty());
  EXPECT_THAT(Of("z").no_gateway, HasSubstr("its egress to the gateway is denied"));
}

TEST_F(AuditTest, WhatNobodyReachesAndWhatAllowsNothing) {
  EXPECT_THAT(report_.unreachable_hosts, IsEmpty());  // y reaches both hosts
  EXPECT_THAT(report_.policies_allowing_nothing,
              ElementsAre("warden-egress/empty: an ALLOW policy without rules allows nothing",
                          "warden-egress/nobody: no rule admits any identity of the cluster to a "
                          "registered host",
                          "x/elsewhere: applies to no gateway (its namespace, selector or "
                          "targetRefs)"));
}

}  // namespace
}  // namespace warden::egress
