// The node forwarder's pure parts: which gateways a node state names (and their wire form), the
// order a flow tries them, and how a record becomes a flow header.
#include <gtest/gtest.h>

#include "agent/forwarder/gateway_order.h"
#include "agent/forwarder/node_view.h"
#include "agent/nodestate/from_snapshot.h"
#include "agent/nodestate/wire.h"
#include "agent/policy/compiler.h"
#include "agent/policy/manifest_loader.h"

namespace warden::forwarder {
namespace {

using nodestate::GatewayEndpoint;

// Gateways: gw-a on a gateway-pool node with an mtls port, gw-b without one (15008), gw-c on a
// default-pool node and gw-h on the host network (neither is an endpoint).
constexpr char kCluster[] = R"(
apiVersion: v1
kind: Node
metadata: {name: n1, labels: {cloud.google.com/gke-nodepool: default-pool}}
---
apiVersion: v1
kind: Node
metadata: {name: g1, labels: {cloud.google.com/gke-nodepool: gateway}}
---
apiVersion: v1
kind: Node
metadata: {name: g2, labels: {cloud.google.com/gke-nodepool: gateway}}
---
apiVersion: v1
kind: Pod
metadata: {name: gw-b, namespace: warden-egress, uid: ub}
spec: {nodeName: g2, containers: [{name: c}]}
status: {podIP: 10.0.9.2}
---
apiVersion: v1
kind: Pod
metadata: {name: gw-a, namespace: warden-egress, uid: ua}
spec: {nodeName: g1, containers: [{name: c, ports: [{name: mtls, containerPort: 15443}]}]}
status: {podIP: 10.0.9.1}
---
apiVersion: v1
kind: Pod
metadata: {name: gw-c, namespace: warden-egress, uid: uc}
spec: {nodeName: n1, containers: [{name: c}]}
status: {podIP: 10.0.1.9}
---
apiVersion: v1
kind: Pod
metadata: {name: gw-h, namespace: warden-egress, uid: uh}
spec: {nodeName: g1, hostNetwork: true, containers: [{name: c}]}
status: {podIP: 10.0.0.5}
---
apiVersion: v1
kind: Pod
metadata: {name: app, namespace: x, uid: uapp}
spec: {nodeName: n1, serviceAccountName: app-sa, containers: [{name: c}]}
status: {podIPs: [{ip: 10.0.1.1}, {ip: "fd00::1"}]}
)";

struct Compiled {
  policy::ClusterState state;
  policy::Snapshot snap;
};

Compiled Compile(const char* yaml) {
  auto loaded = policy::LoadManifestTexts({{"c.yaml", yaml}});
  EXPECT_TRUE(loaded.errors.empty());
  auto snap = policy::Compile(loaded.state);
  EXPECT_TRUE(snap.ok());
  return {std::move(loaded.state), std::move(*snap)};
}

policy::IpAddress Ip(const char* s) { return *policy::ParseIp(s); }

TEST(ForwarderUnitTest, GatewayEndpointsAreTheGatewayPoolsGatewayPods) {
  Compiled c = Compile(kCluster);
  std::vector<GatewayEndpoint> gws = nodestate::GatewayEndpoints(c.state, "warden-egress");
  ASSERT_EQ(gws.size(), 2u);
  EXPECT_EQ(gws[0], (GatewayEndpoint{Ip("10.0.9.1"), "g1", 15443, "warden-egress/gw-a"}));
  EXPECT_EQ(gws[1], (GatewayEndpoint{Ip("10.0.9.2"), "g2", nodestate::kDefaultGatewayPort,
                                     "warden-egress/gw-b"}));
  EXPECT_TRUE(nodestate::GatewayEndpoints(c.state, "elsewhere").empty());
  // Every node's state carries them.
  nodestate::NodeState s = nodestate::ComputeNodeState(c.state, c.snap, "n1");
  EXPECT_EQ(s.gateways, gws);
}

TEST(ForwarderUnitTest, GatewaysTravelInTheNodeConfig) {
  Compiled c = Compile(kCluster);
  nodestate::NodeState s = nodestate::ComputeNodeState(c.state, c.snap, "n1");
  s.version = 1;
  nodestate::NodeState got;
  ASSERT_TRUE(nodestate::ApplyUpdate(nodestate::FullUpdate(s), &got).ok());
  EXPECT_EQ(got.gateways, s.gateways);
  EXPECT_TRUE(got.SameContents(s));
  // A change of the gateways alone is a delta with the node's config.
  nodestate::NodeState next = s;
  next.version = 2;
  next.gateways.pop_back();
  v1::Update d = nodestate::DeltaUpdate(s, next);
  ASSERT_TRUE(d.has_node_config());
  ASSERT_TRUE(nodestate::ApplyUpdate(d, &got).ok());
  EXPECT_EQ(got.gateways, next.gateways);
  // What no valid state holds is refused, naming the field.
  for (auto mangle : std::vector<std::function<void(v1::GatewayEndpoint*)>>{
           [](v1::GatewayEndpoint* g) { g->set_port(0); },
           [](v1::GatewayEndpoint* g) { g->set_port(70000); },
           [](v1::GatewayEndpoint* g) { g->set_node(""); },
           [](v1::GatewayEndpoint* g) { g->set_address("abc"); }}) {
    v1::Update bad = nodestate::FullUpdate(s);
    mangle(bad.mutable_node_config()->mutable_gateways(0));
    nodestate::NodeState refused;
    absl::Status st = nodestate::ApplyUpdate(bad, &refused);
    EXPECT_FALSE(st.ok());
    EXPECT_NE(st.message().find("node_config.gateways[0]"), absl::string_view::npos) << st;
  }
}

TEST(ForwarderUnitTest, FlowsStartRoundTheListAndTryFailedGatewaysLast) {
  EXPECT_EQ(GatewayOrder(3, 0, {false, false, false}), (std::vector<size_t>{0, 1, 2}));
  EXPECT_EQ(GatewayOrder(3, 4, {false, false, false}), (std::vector<size_t>{1, 2, 0}));
  EXPECT_EQ(GatewayOrder(3, 0, {true, false, false}), (std::vector<size_t>{1, 2, 0}));
  EXPECT_EQ(GatewayOrder(3, 2, {false, false, true}), (std::vector<size_t>{0, 1, 2}));
  EXPECT_EQ(GatewayOrder(2, 1, {true, true}), (std::vector<size_t>{1, 0}));
  EXPECT_TRUE(GatewayOrder(0, 7, {}).empty());
}

TEST(ForwarderUnitTest, ARecordBecomesTheFlowHeaderOfItsPodOnlyFromThePodsAddress) {
  Compiled c = Compile(kCluster);
  nodestate::NodeState s = nodestate::ComputeNodeState(c.state, c.snap, "n1");
  NodeSnapshot snap = SnapshotOf(s, {{42, "x/app"}, {43, "x/gone"}});
  ASSERT_EQ(snap.pods.size(), 1u);
  EXPECT_EQ(snap.gateways, s.gateways);
  Record r;
  r.cgroup_id = 42;
  r.cookie = 7;
  r.identity = snap.pods.at(42).identity;
  r.original_ip = Ip("203.0.113.10");
  r.original_port = 80;
  auto f = FlowOf(snap, r, Ip("10.0.1.1"));
  ASSERT_TRUE(f.ok()) << f.status();
  EXPECT_EQ(f->ns, "x");
  EXPECT_EQ(f->pod, "app");
  EXPECT_EQ(f->service_account, "app-sa");
  EXPECT_NE(f->identity, 0u);
  EXPECT_EQ(f->original_ip, Ip("203.0.113.10"));
  EXPECT_EQ(f->original_port, 80);
  EXPECT_EQ(f->flow_id, 7u);
  EXPECT_TRUE(FlowOf(snap, r, Ip("fd00::1")).ok());
  // From an address that is not the pod's, or naming a cgroup of no known pod: refused.
  EXPECT_EQ(FlowOf(snap, r, Ip("10.0.1.2")).status().code(), absl::StatusCode::kPermissionDenied);
  r.cgroup_id = 43;
  EXPECT_EQ(FlowOf(snap, r, Ip("10.0.1.1")).status().code(), absl::StatusCode::kNotFound);
}

}  // namespace
}  // namespace warden::forwarder
