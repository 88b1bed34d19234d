// The verdict log names the NetworkPolicy behind a verdict from the node state in force, whichever
// source it came from: here a state that went over the wire, as `warden control` sends it. No
// root (no BPF: the events are crafted).
#include "agent/node/verdict_log.h"

#include <arpa/inet.h>

#include <gtest/gtest.h>
#include <nlohmann/json.hpp>

#include "agent/nodestate/from_snapshot.h"
#include "agent/nodestate/wire.h"
#include "agent/policy/compiler.h"
#include "agent/policy/manifest_loader.h"

namespace warden::node {
namespace {

constexpr char kCluster[] = R"(
apiVersion: v1
kind: Namespace
metadata: {name: x, labels: {team: x}}
---
apiVersion: v1
kind: Namespace
metadata: {name: y, labels: {team: y}}
---
apiVersion: v1
kind: Pod
metadata: {name: a, namespace: x, uid: ua, labels: {app: a}}
spec: {nodeName: n1, serviceAccountName: sa-a, containers: [{name: c, ports: [{name: web, containerPort: 8080}]}]}
status: {podIP: 10.0.1.1}
---
apiVersion: v1
kind: Pod
metadata: {name: c, namespace: y, uid: uc, labels: {app: c}}
spec: {nodeName: n2, containers: [{name: c}]}
status: {podIP: 10.0.2.2}
---
apiVersion: v1
kind: Pod
metadata: {name: d, namespace: y, uid: ud, labels: {app: d, tier: db}}
spec: {nodeName: n2, containers: [{name: c}]}
status: {podIP: 10.0.2.3}
---
apiVersion: networking.k8s.io/v1
kind: NetworkPolicy
metadata: {name: a-untiered-from-y, namespace: x}
spec:
  podSelector: {matchLabels: {app: a}}
  ingress:
  - from: [{namespaceSelector: {matchLabels: {team: y}}, podSelector: {matchExpressions: [{key: tier, operator: DoesNotExist}]}}]
    ports: [{port: 8080}]
---
apiVersion: networking.k8s.io/v1
kind: NetworkPolicy
metadata: {name: web-from-y, namespace: x}
spec:
  podSelector: {matchLabels: {app: a}}
  ingress:
  - from: [{namespaceSelector: {matchLabels: {team: y}}}]
    ports: [{port: web}]
---
apiVersion: networking.k8s.io/v1
kind: NetworkPolicy
metadata: {name: out-to-test-net, namespace: x}
spec:
  podSelector: {}
  policyTypes: [Egress]
  egress: [{to: [{ipBlock: {cidr: 203.0.113.0/24}}], ports: [{port: 443}]}]
)";

class VerdictLogTest : public ::testing::Test {
 protected:
  void SetUp() override {
    auto loaded = policy::LoadManifestTexts({{"c.yaml", kCluster}});
    ASSERT_TRUE(loaded.errors.empty()) << loaded.errors[0].ToString();
    policy::Snapshot snap = policy::Compile(loaded.state).value();
    nodestate::NodeState cut = nodestate::ComputeNodeState(loaded.state, snap, "n1", {"", {}});
    cut.version = 7;
    // Over the wire, as warden control sends it: what the agent holds has no cluster state.
    ASSERT_TRUE(nodestate::ApplyUpdate(nodestate::FullUpdate(cut), &held_).ok());
    ASSERT_TRUE(held_.SameContents(cut));
    local_identity_ = held_.pods.at("x/a").identity;
  }

  nlohmann::json Line(uint8_t dir, const char* remote, uint16_t local_port, uint16_t remote_port,
                      uint8_t reason) {
    wd_event e{};
    e.cgroup_id = 42;
    e.local_identity = local_identity_;
    e.hook = dir == WD_DIR_EGRESS ? WD_HOOK_EGRESS : WD_HOOK_INGRESS;
    e.verdict = reason == WD_REASON_ALLOW_POLICY ? WD_VERDICT_ALLOW : WD_VERDICT_DENY;
    e.reason = reason;
    e.family = WD_AF_INET;
    e.protocol = 6;
    e.direction = dir;
    e.local_port = local_port;
    e.remote_port = remote_port;
    inet_pton(AF_INET, "10.0.1.1", e.local_addr);
    inet_pton(AF_INET, remote, e.remote_addr);
    return Parsed(e);
  }

  // A denied egress event of x/a (cgroup 42) at `hook`, IPv4 `protocol` to `remote`.
  wd_event Denied(uint8_t hook, uint8_t protocol, const char* remote) const {
    wd_event e{};
    e.cgroup_id = 42;
    e.local_identity = local_identity_;
    e.hook = hook;
    e.direction = WD_DIR_EGRESS;
    e.verdict = WD_VERDICT_DENY;
    e.family = WD_AF_INET;
    e.protocol = protocol;
    inet_pton(AF_INET, remote, e.remote_addr);
    return e;
  }
  nlohmann::json Parsed(const wd_event& e) const {
    EventContext ctx{"n1", &held_, &pods_};
    return nlohmann::json::parse(VerdictLogLine(e, 0, ctx));
  }

  nodestate::NodeState held_;
  uint32_t local_identity_ = 0;
  absl::flat_hash_map<uint64_t, std::string> pods_ = {{42, "x/a"}};
};

TEST_F(VerdictLogTest, NamesTheAllowingPolicyFromTheStateInForce) {
  // y/c (a pod of the other node, known by its identity: a-untiered-from-y selects it by its
  // labels) to x/a's named port web (8080): both policies allow it, the first is named.
  nlohmann::json j = Line(WD_DIR_INGRESS, "10.0.2.2", 8080, 40000, WD_REASON_ALLOW_POLICY);
  EXPECT_EQ(j["namespace"], "x");
  EXPECT_EQ(j["pod"], "a");
  EXPECT_EQ(j["service_account"], "sa-a");
  EXPECT_EQ(j["policy"], "x/a-untiered-from-y");
  // y/d (tier db): only web-from-y, which takes every pod of y, allows it. No entry of n1 names
  // y/d's identity, so n1 was not sent it: its labels are unknown there, and a selector that an
  // unlabelled pod would match (tier DoesNotExist) must not be taken for one that matches y/d.
  ASSERT_EQ(held_.identities->count(held_.ipcache->at(*policy::ParseCidr("10.0.2.3/32")).identity),
            0u);
  j = Line(WD_DIR_INGRESS, "10.0.2.3", 8080, 40000, WD_REASON_ALLOW_POLICY);
  EXPECT_EQ(j["policy"], "x/web-from-y");
  // To the world through an ipBlock.
  j = Line(WD_DIR_EGRESS, "203.0.113.66", 40000, 443, WD_REASON_ALLOW_POLICY);
  EXPECT_EQ(j["policy"], "x/out-to-test-net");
}

TEST_F(VerdictLogTest, NamesTheIsolatingPoliciesOfADenial) {
  nlohmann::json j = Line(WD_DIR_INGRESS, "10.0.2.2", 9090, 40000, WD_REASON_DENY_POLICY);
  EXPECT_EQ(j["verdict"], "deny");
  EXPECT_EQ(j["policy"], "x/a-untiered-from-y,x/web-from-y");
  j = Line(WD_DIR_EGRESS, "198.51.100.53", 40000, 53, WD_REASON_DENY_POLICY);
  EXPECT_EQ(j["policy"], "x/out-to-test-net");
  // Verdicts no policy decided name none.
  j = Line(WD_DIR_EGRESS, "198.51.100.53", 40000, 53, WD_REASON_DENY_POOL_LOCKDOWN);
  EXPECT_FALSE(j.contains("policy"));
}

// At connect the kernel has not chosen the source yet: the line names the pod's own address, as
// the packets will carry it, not the unspecified address the event has.
TEST_F(VerdictLogTest, AConnectNamesThePodsOwnAddressAsItsSource) {
  wd_event e = Denied(WD_HOOK_CONNECT, 6, "203.0.113.66");
  e.reason = WD_REASON_DENY_POOL_LOCKDOWN;
  e.remote_port = 8443;
  nlohmann::json j = Parsed(e);
  EXPECT_EQ(j["src"], "10.0.1.1");
  EXPECT_EQ(j["dst"], "203.0.113.66");
  // No address of the flow's family (x/a has no IPv6), or no pod: the event's own.
  e.family = WD_AF_INET6;
  inet_pton(AF_INET6, "2001:db8::66", e.remote_addr);
  EXPECT_EQ(Parsed(e)["src"], "::");
  wd_event host = Denied(WD_HOOK_CONNECT, 6, "203.0.113.66");
  host.cgroup_id = 43;
  host.local_identity = WD_ID_HOST;
  EXPECT_EQ(Parsed(host)["src"], "0.0.0.0");
  // A packet's source is what it carries, whatever it is.
  EXPECT_EQ(Parsed(Denied(WD_HOOK_EGRESS, 6, "203.0.113.66"))["src"], "0.0.0.0");
}

// The interface programs' refusals: the hook, the reason by name, the interface, and how many of
// the pod's events the datapath held back before this one (wd_evlimit).
TEST_F(VerdictLogTest, InterfaceRefusalsNameHookReasonInterfaceAndHeldBackEvents) {
  wd_event e = Denied(WD_HOOK_IF_EGRESS, 17, "203.0.113.66");
  e.ifindex = 2994;
  e.suppressed = 731;
  inet_pton(AF_INET, "10.0.2.2", e.local_addr);  // another pod's address: spoofed
  const std::pair<uint8_t, const char*> reasons[] = {
      {WD_REASON_DENY_SPOOFED_SOURCE, "spoofed-source"},
      {WD_REASON_DENY_PACKET_SOCKET, "packet-socket"},
      {WD_REASON_DENY_MALFORMED, "malformed"},
      {WD_REASON_DENY_POOL_LOCKDOWN, "pool-lockdown"},
      {WD_REASON_DENY_NOT_POD_ADDRESS, "not-pod-address"},
      {WD_REASON_DENY_FRAGMENT, "fragment"}};
  for (const auto& [reason, name] : reasons) {
    e.reason = reason;
    nlohmann::json j = Parsed(e);
    EXPECT_EQ(j["reason"], name);
    EXPECT_EQ(j["hook"], "if-egress");
    EXPECT_EQ(j["namespace"], "x");
    EXPECT_EQ(j["pod"], "a");
    EXPECT_EQ(j["src"], "10.0.2.2");
    EXPECT_EQ(j["ifindex"], 2994);
    EXPECT_EQ(j["suppressed"], 731);
  }
  // The first line's events carry neither.
  e.hook = WD_HOOK_EGRESS;
  e.ifindex = e.suppressed = 0;
  nlohmann::json j = Parsed(e);
  EXPECT_FALSE(j.contains("ifindex"));
  EXPECT_FALSE(j.contains("suppressed"));
}

}  // namespace
}  // namespace warden::node
