// Peers that are whole namespaces, or every pod, are one policy entry each in the kernel (keyed
// by the namespace's identity, or WD_ID_ANY_POD), not one per pod identity of the cluster: the
// tables of a node grow with its own pods, not with the cluster. Compiled from NetworkPolicy
// YAML, applied into real BPF maps and probed with BPF_PROG_TEST_RUN.
#include "absl/strings/str_cat.h"
#include "tests/bpf/bpf_fixture.h"

namespace warden::testing {
namespace {

using testlib::kTcp;
using testlib::kUdp;

constexpr int kPodsPerNamespace = 12;  // each with labels of its own: an identity each

// Namespaces x and y (team a) and z (team b); pod i of namespace n is n/p<i> at
// 10.244.<k>.<10 + i>, with a named port `http` on 8000 + i.
std::string Cluster() {
  std::string yaml = R"(
apiVersion: v1
kind: Node
metadata: {name: n1}
spec: {podCIDR: 10.244.0.0/16}
status: {addresses: [{type: InternalIP, address: 10.10.0.1}]}
)";
  const char* names[] = {"x", "y", "z"};
  const char* teams[] = {"a", "a", "b"};
  for (int k = 0; k < 3; ++k) {
    absl::StrAppend(&yaml, "---\napiVersion: v1\nkind: Namespace\nmetadata: {name: ", names[k],
                    ", labels: {team: ", teams[k], "}}\n");
    for (int i = 0; i < kPodsPerNamespace; ++i) {
      absl::StrAppend(&yaml, "---\napiVersion: v1\nkind: Pod\nmetadata: {name: p", i,
                      ", namespace: ", names[k], ", labels: {app: p", i, "}}\n",
                      "spec:\n  containers:\n  - name: c\n    ports: [{name: http, containerPort: ",
                      8000 + i, "}]\nstatus: {podIP: 10.244.", k + 1, ".", 10 + i, "}\n");
    }
  }
  return yaml;
}

std::string Addr(int k, int i) { return absl::StrCat("10.244.", k + 1, ".", 10 + i); }

const char* kPolicies = R"(
---
apiVersion: networking.k8s.io/v1
kind: NetworkPolicy
metadata: {name: to-team-a, namespace: x}
spec:
  podSelector: {matchLabels: {app: p0}}
  policyTypes: [Egress, Ingress]
  egress:
  - to: [{namespaceSelector: {matchLabels: {team: a}}}]
    ports: [{port: 80}]
  - to: [{podSelector: {}}]
    ports: [{port: 81}]
  - to: [{namespaceSelector: {matchLabels: {team: b}}}]
    ports: [{port: http}]
  ingress:
  - from: [{namespaceSelector: {}}]
    ports: [{protocol: UDP, port: 53}]
)";

class NamespacePeersTest : public BpfTest {
 protected:
  uint32_t NsIdentity(const std::string& pod) const { return snap_->pods.at(pod).ns_identity; }
  uint32_t PodIdentity(const std::string& pod) const { return snap_->pods.at(pod).identity; }
  bool HasEntry(uint32_t local, uint32_t remote, uint8_t dir) const {
    wd_policy_key k{};
    k.local_identity = local;
    k.remote_identity = remote;
    k.direction = dir;
    return tables_.policy.contains(common::Raw<wd_policy_key>{k});
  }
};

TEST_F(NamespacePeersTest, WholeNamespacesAndEveryPodAreOneEntryEach) {
  LoadPod(Cluster() + kPolicies, "x/p0");
  const uint32_t local = PodIdentity("x/p0");
  ASSERT_NE(NsIdentity("x/p0"), NsIdentity("y/p0"));
  EXPECT_EQ(NsIdentity("x/p0") & ~0x00ffffffu, WD_ID_NS_FLAG);
  // team a: x and y; `podSelector: {}`: x (the same entry, ports 80 and 81); every pod: one.
  EXPECT_TRUE(HasEntry(local, NsIdentity("x/p1"), WD_DIR_EGRESS));
  EXPECT_TRUE(HasEntry(local, NsIdentity("y/p1"), WD_DIR_EGRESS));
  EXPECT_TRUE(HasEntry(local, WD_ID_ANY_POD, WD_DIR_INGRESS));
  // A named port resolves on each destination pod (egress): z's pods need entries of their own.
  for (int i = 0; i < kPodsPerNamespace; ++i)
    EXPECT_TRUE(HasEntry(local, PodIdentity(absl::StrCat("z/p", i)), WD_DIR_EGRESS)) << i;
  // 2 namespace entries + 12 pod entries (egress) + 1 (ingress); before: 36 + 12 + 1.
  size_t mine = 0;
  for (const auto& [k, _] : tables_.policy) mine += k.v.local_identity == local;
  EXPECT_EQ(mine, 2u + kPodsPerNamespace + 1u);
}

TEST_F(NamespacePeersTest, TheKernelFindsThePeerThroughItsNamespace) {
  LoadPod(Cluster() + kPolicies, "x/p0");
  const std::string me = Addr(0, 0);
  uint16_t sport = 40000;
  for (int i = 0; i < kPodsPerNamespace; ++i) {
    SCOPED_TRACE(i);
    // Team a (x and y) on 80; x on 81 too; z (team b) on its own `http` only.
    EXPECT_EQ(Egress(Ipv4Packet(me, Addr(0, i), kTcp, sport++, 80)), 1u);
    EXPECT_EQ(Egress(Ipv4Packet(me, Addr(1, i), kTcp, sport++, 80)), 1u);
    EXPECT_EQ(Egress(Ipv4Packet(me, Addr(2, i), kTcp, sport++, 80)), 0u);
    EXPECT_EQ(Egress(Ipv4Packet(me, Addr(0, i), kTcp, sport++, 81)), 1u);
    EXPECT_EQ(Egress(Ipv4Packet(me, Addr(1, i), kTcp, sport++, 81)), 0u);
    EXPECT_EQ(Egress(Ipv4Packet(me, Addr(2, i), kTcp, sport++, 8000 + i)), 1u);
    EXPECT_EQ(Egress(Ipv4Packet(me, Addr(2, i), kTcp, sport++, 8000 + (i + 1) % 12)), 0u);
    EXPECT_EQ(Egress(Ipv4Packet(me, Addr(1, i), kTcp, sport++, 8000 + i)), 0u);
    // Every pod may send DNS in; nothing else may, and no address that is not a pod's.
    for (int k = 0; k < 3; ++k) {
      EXPECT_EQ(Ingress(Ipv4Packet(Addr(k, i), me, kUdp, sport++, 53)), 1u) << k;
      EXPECT_EQ(Ingress(Ipv4Packet(Addr(k, i), me, kUdp, sport++, 54)), 0u) << k;
    }
  }
  EXPECT_EQ(Ingress(Ipv4Packet("10.244.9.9", me, kUdp, sport++, 53)), 0u) << "no pod there";
  EXPECT_EQ(Ingress(Ipv4Packet("10.10.0.7", me, kUdp, sport++, 53)), 0u) << "a node";
  EXPECT_EQ(Ingress(Ipv4Packet("203.0.113.9", me, kUdp, sport++, 53)), 0u) << "the world";
}

}  // namespace
}  // namespace warden::testing
