// Port sets in the kernel: sets small enough to sit inline, larger ones searched by halving
// through their run of ranges, and a cluster with more distinct port lists than the old fixed
// table held (256), each compiled from NetworkPolicy YAML, applied and probed with
// BPF_PROG_TEST_RUN.
#include <set>

#include "absl/strings/str_cat.h"
#include "tests/bpf/bpf_fixture.h"

namespace warden::testing {
namespace {

using testlib::kTcp;
using testlib::kUdp;

const char* kCluster = R"(
apiVersion: v1
kind: Namespace
metadata: {name: x, labels: {ns: x}}
---
apiVersion: v1
kind: Node
metadata: {name: n1}
spec: {podCIDR: 10.244.0.0/16}
status: {addresses: [{type: InternalIP, address: 10.10.0.1}]}
---
apiVersion: v1
kind: Pod
metadata: {name: a, namespace: x, labels: {app: a}}
status: {podIP: 10.244.1.10}
---
apiVersion: v1
kind: Pod
metadata: {name: b, namespace: x, labels: {app: b}}
status: {podIP: 10.244.1.11}
)";

// x/a may reach x/b on TCP ports 1000, 1003, ..., 1297 (100 ranges of one port), 20000-20100
// and 65535, and on UDP 53: the TCP set is a run of 102 ranges.
std::string SpacedPortsPolicy() {
  std::string ports;
  for (int p = 1000; p < 1300; p += 3) absl::StrAppend(&ports, "{port: ", p, "}, ");
  absl::StrAppend(&ports,
                  "{port: 20000, endPort: 20100}, {port: 65535}, {protocol: UDP, port: 53}");
  return absl::StrCat(R"(
---
apiVersion: networking.k8s.io/v1
kind: NetworkPolicy
metadata: {name: spaced, namespace: x}
spec:
  podSelector: {matchLabels: {app: a}}
  policyTypes: [Egress]
  egress:
  - to: [{podSelector: {matchLabels: {app: b}}}]
    ports: [)",
                      ports, "]\n");
}

TEST_F(BpfTest, ASetOfManyRangesIsSearchedThroughItsRun) {
  LoadPod(std::string(kCluster) + SpacedPortsPolicy(), "x/a");
  ASSERT_GE(tables_.portranges.size(), 102u) << "the TCP set is not a run";
  std::set<int> allowed = {65535};
  for (int p = 1000; p < 1300; p += 3) allowed.insert(p);
  for (int p = 20000; p <= 20100; ++p) allowed.insert(p);
  std::vector<int> probes = {0,     1,     999,   19999, 20000, 20001, 20050,
                             20099, 20100, 20101, 65534, 65535, 53};
  for (int p = 995; p < 1305; ++p) probes.push_back(p);
  uint16_t sport = 30000;
  for (int p : probes) {
    EXPECT_EQ(Egress(Ipv4Packet("10.244.1.10", "10.244.1.11", kTcp, sport++, p)),
              allowed.count(p) ? 1u : 0u)
        << "TCP port " << p;
  }
  EXPECT_EQ(Egress(Ipv4Packet("10.244.1.10", "10.244.1.11", kUdp, sport++, 53)), 1u);
  EXPECT_EQ(Egress(Ipv4Packet("10.244.1.10", "10.244.1.11", kUdp, sport++, 1000)), 0u);
}

// 400 NetworkPolicies in one namespace, each allowing egress to one address on its own TCP
// port: 400 distinct port lists, which the old 256-slot table refused for the whole node.
TEST_F(BpfTest, FourHundredPoliciesWithTheirOwnPortsAllApply) {
  constexpr int kPolicies = 400;
  std::string yaml = kCluster;
  auto addr = [](int i) { return absl::StrCat("10.244.", 100 + i / 200, ".", 1 + i % 200); };
  for (int i = 0; i < kPolicies; ++i) {
    absl::StrAppend(&yaml, "\n---\napiVersion: networking.k8s.io/v1\nkind: NetworkPolicy\n",
                    "metadata: {name: p", i, ", namespace: x}\nspec:\n  podSelector: {}\n",
                    "  policyTypes: [Egress]\n  egress:\n  - to: [{ipBlock: {cidr: ", addr(i),
                    "/32}}]\n    ports: [{port: ", 30000 + i, "}]\n");
  }
  LoadPod(yaml, "x/a");
  EXPECT_GT(tables_.portsets.size(), static_cast<size_t>(kPolicies));
  uint16_t sport = 40000;
  for (int i = 0; i < kPolicies; ++i) {
    EXPECT_EQ(Egress(Ipv4Packet("10.244.1.10", addr(i), kTcp, sport++, 30000 + i)), 1u) << i;
    // Another policy's port to this address: not allowed.
    EXPECT_EQ(
        Egress(Ipv4Packet("10.244.1.10", addr(i), kTcp, sport++, 30000 + (i + 1) % kPolicies)), 0u)
        << i;
  }
}

}  // namespace
}  // namespace warden::testing
