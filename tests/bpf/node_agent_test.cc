// The node agent patches the tables in force in place for each update; when the kernel refuses
// an update (here: more port sets than wd_portsets holds), what the agent holds as "in force"
// must be put back exactly, so that the next update still produces exactly its own tables.
// Real programs and maps in the real kernel; needs root (fails, never skips, without it).
#include <unistd.h>

#include <filesystem>
#include <string>

#include <gtest/gtest.h>

#include "agent/common/cgroup.h"
#include "agent/control/node_state.h"
#include "agent/datapath/bpf_datapath.h"
#include "agent/node/node_agent.h"
#include "agent/node/tables_builder.h"
#include "agent/policy/compiler.h"
#include "agent/policy/manifest_loader.h"
#include "tests/lib/kubelet_node.h"
#include "tests/lib/scratch_cgroup.h"

namespace warden::node {
namespace {

constexpr char kCluster[] = R"(
apiVersion: v1
kind: Pod
metadata: {name: a, namespace: x, uid: ua, labels: {app: a}}
spec: {nodeName: n1, containers: [{name: c}]}
status: {podIP: 10.0.1.1}
---
apiVersion: v1
kind: Pod
metadata: {name: b, namespace: x, uid: ub, labels: {app: b}}
spec: {nodeName: n2, containers: [{name: c}]}
status: {podIP: 10.0.2.1}
---
apiVersion: networking.k8s.io/v1
kind: NetworkPolicy
metadata: {name: a-from-b, namespace: x}
spec:
  podSelector: {matchLabels: {app: a}}
  ingress:
  - from: [{podSelector: {matchLabels: {app: b}}}]
    ports: [{port: 8080}]
)";

// The live tables as ReadPinnedState gives them (port sets up to the highest one referenced)
// hold exactly `want`.
bool LiveHolds(const datapath::NodeTables& live, const datapath::NodeTables& want) {
  if (live.portsets.size() > want.portsets.size()) return false;
  for (size_t i = 0; i < live.portsets.size(); ++i) {
    if (!datapath::SameBytes(live.portsets[i], want.portsets[i])) return false;
  }
  return datapath::SameEntries(live.policy, want.policy) &&
         datapath::SameEntries(live.ipcache, want.ipcache) &&
         datapath::SameEntries(live.endpoints, want.endpoints) &&
         datapath::SameEntries(live.lockdown, want.lockdown);
}

class NodeAgentTest : public ::testing::Test {
 protected:
  void SetUp() override {
    ASSERT_EQ(geteuid(), 0u) << "this test loads BPF programs: it must run as root";
    auto cgroups = testlib::ScratchCgroup::Create("warden-agenttest-" + std::to_string(getpid()));
    ASSERT_TRUE(cgroups.ok()) << cgroups.status();
    cgroups_ = std::move(*cgroups);
    ASSERT_TRUE(testlib::KubeletNode::Create(cgroups_.path()).ok());
    bpffs_ = "/sys/fs/bpf/warden-agenttest-" + std::to_string(getpid());
  }
  void TearDown() override {
    agent_.reset();
    datapath::BpfDatapath::Options o;
    o.bpffs_dir = bpffs_;
    o.cgroup_path = cgroups_.path();
    if (auto dp = datapath::BpfDatapath::Open(o); dp.ok()) {
      EXPECT_TRUE((*dp)->DetachAndUnpin().ok());
    }
    EXPECT_TRUE(cgroups_.Remove().ok());
  }

  testlib::ScratchCgroup cgroups_;
  std::string bpffs_;
  std::unique_ptr<NodeAgent> agent_;
};

TEST_F(NodeAgentTest, AnUpdateTheKernelRefusesLeavesTheTablesInForceExactly) {
  auto loaded = policy::LoadManifestTexts({{"c.yaml", kCluster}});
  ASSERT_TRUE(loaded.errors.empty()) << loaded.errors[0].ToString();
  policy::Snapshot snap = policy::Compile(loaded.state);
  control::NodeState good = control::ComputeNodeState(loaded.state, snap, "n1", "");
  good.version = 1;
  ASSERT_EQ(good.policy.size(), 1u);
  const uint32_t local = good.policy.begin()->first;
  const auto first_key = good.policy.begin()->second->begin()->first;

  // Refused: one more entry in x/a's block, and 300 port sets (wd_portsets holds 256).
  control::NodeState bad = good;
  bad.version = 2;
  control::PolicyRecord all{};
  for (auto& ps : all.portset) ps = WD_PORTSET_ALL;
  bad.policy[local].Mut()[{first_key.first + 1, first_key.second}] = all;
  for (int i = 0; i < 300; ++i) {
    bad.portsets.Mut().push_back(
        {{static_cast<uint16_t>(1000 + i), static_cast<uint16_t>(1000 + i)}});
  }
  // Then a good update that changes the same block in another way.
  control::NodeState next = good;
  next.version = 3;
  next.policy[local].Mut()[first_key] = all;

  NodeAgentOptions opts;
  opts.node = "n1";
  opts.cgroup_root = cgroups_.path();
  opts.bpffs = bpffs_;
  opts.log_path = "/dev/null";
  // Control mode without Start(): the states are offered here, as the Sync client would.
  opts.control = "127.0.0.1:1";
  opts.tls_cert = opts.tls_key = opts.tls_ca = "unused";
  auto agent = NodeAgent::Create(opts);
  ASSERT_TRUE(agent.ok()) << agent.status();
  agent_ = std::move(*agent);

  auto live = [&] {
    auto st = datapath::ReadPinnedState(bpffs_);
    EXPECT_TRUE(st.ok()) << st.status();
    return st.ok() ? st->live : datapath::NodeTables{};
  };
  ASSERT_TRUE(agent_->OfferState(good).ok());
  const datapath::NodeTables want_good = BuildNodeTables(good, {}, good.allowances);
  ASSERT_TRUE(LiveHolds(live(), want_good));
  ASSERT_FALSE(want_good.policy.empty());

  absl::Status refused = agent_->OfferState(bad);
  EXPECT_FALSE(refused.ok());
  EXPECT_NE(refused.message().find("portset entries"), std::string::npos) << refused.message();
  EXPECT_TRUE(LiveHolds(live(), want_good)) << "a refused update changed the tables";
  EXPECT_EQ(agent_->stats().apply_errors.load(), 1u);

  ASSERT_TRUE(agent_->OfferState(next).ok());
  const datapath::NodeTables want_next = BuildNodeTables(next, {}, next.allowances);
  EXPECT_FALSE(datapath::SameTables(want_next, want_good));
  EXPECT_TRUE(LiveHolds(live(), want_next))
      << "the refused update's entries leaked into the next one";
  // And back to the first state: both copies of the maps have been written since the failure.
  control::NodeState again = good;
  again.version = 4;
  ASSERT_TRUE(agent_->OfferState(again).ok());
  EXPECT_TRUE(LiveHolds(live(), want_good));
}

}  // namespace
}  // namespace warden::node
