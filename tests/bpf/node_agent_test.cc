// The node agent patches the tables in force in place for each update; when the kernel refuses
// an update (here: more port sets than wd_portsets holds), what the agent holds as "in force"
// must be put back exactly, so that the next update still produces exactly its own tables.
// Real programs and maps in the real kernel; needs root (fails, never skips, without it).
#include <unistd.h>

#include <chrono>
#include <filesystem>
#include <fstream>
#include <string>
#include <thread>

#include <gtest/gtest.h>

#include "agent/common/cgroup.h"
#include "agent/control/control_plane.h"
#include "agent/datapath/bpf_datapath.h"
#include "agent/node/manifests_source.h"
#include "agent/node/node_agent.h"
#include "agent/node/tables_builder.h"
#include "agent/nodestate/from_snapshot.h"
#include "agent/policy/compiler.h"
#include "agent/policy/manifest_loader.h"
#include "tests/lib/kubelet_node.h"
#include "tests/lib/scratch_cgroup.h"
#include "tests/lib/scratch_dir.h"
#include "tests/lib/yaml_text.h"

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

// A source whose states the test hands the agent itself.
class OfferedHere : public DesiredStateSource {
 public:
  std::optional<nodestate::NodeState> Initial() override { return std::nullopt; }
  void Start(Enforce) override {}
  void AppendMetrics(const std::string&, std::string*) const override {}
};

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

  NodeAgentOptions Options() const {
    NodeAgentOptions opts;
    opts.node = "n1";
    opts.cgroup_root = cgroups_.path();
    opts.bpffs = bpffs_;
    opts.log_path = "/dev/null";
    return opts;
  }
  // An agent of node n1 reading `manifests` itself, started; `portsets`: how many port sets its
  // compiles may have (0: as many as the datapath holds).
  void StartFromManifests(const std::string& manifests, size_t portsets = 0) {
    nodestate::PipelineOptions po;
    po.manifests = manifests;
    if (portsets) po.limits.portsets = portsets;
    auto agent = NodeAgent::Create(Options(), std::make_unique<ManifestsSource>("n1", po));
    ASSERT_TRUE(agent.ok()) << agent.status();
    agent_ = std::move(*agent);
    ASSERT_TRUE(agent_->Start().ok());
  }

  testlib::ScratchCgroup cgroups_;
  std::string bpffs_;
  std::unique_ptr<NodeAgent> agent_;
};

TEST_F(NodeAgentTest, AnUpdateTheKernelRefusesLeavesTheTablesInForceExactly) {
  auto loaded = policy::LoadManifestTexts({{"c.yaml", kCluster}});
  ASSERT_TRUE(loaded.errors.empty()) << loaded.errors[0].ToString();
  policy::Snapshot snap = policy::Compile(loaded.state).value();
  nodestate::NodeState good = nodestate::ComputeNodeState(loaded.state, snap, "n1", {"", {}});
  good.version = 1;
  ASSERT_EQ(good.policy.size(), 1u);
  const uint32_t local = good.policy.begin()->first;
  const auto first_key = good.policy.begin()->second->begin()->first;

  // Refused: one more entry in x/a's block, and port sets of more ranges than wd_portranges
  // holds (three sets of 30,000 single ports each).
  nodestate::NodeState bad = good;
  bad.version = 2;
  wd_policy_value all{};
  for (auto& ps : all.portset) ps = WD_PORTSET_ALL;
  bad.policy[local].Mut()[{first_key.local, first_key.remote + 1, first_key.direction}] = all;
  for (int set = 0; set < 3; ++set) {
    std::vector<policy::PortRange> ranges;
    for (int i = 0; i < 30000; ++i) {
      uint16_t p = static_cast<uint16_t>(2 * i + set);
      ranges.push_back({p, p});
    }
    bad.portsets.Mut().push_back(std::move(ranges));
  }
  ASSERT_GT(3 * 30000, WD_PORTRANGES_MAX_ENTRIES);
  // Then a good update that changes the same block in another way.
  nodestate::NodeState next = good;
  next.version = 3;
  next.policy[local].Mut()[first_key] = all;

  // Without Start(): the states are offered here, as a source would.
  auto agent = NodeAgent::Create(Options(), std::make_unique<OfferedHere>());
  ASSERT_TRUE(agent.ok()) << agent.status();
  agent_ = std::move(*agent);

  auto live = [&] {
    auto st = datapath::ReadPinnedState(bpffs_);
    EXPECT_TRUE(st.ok()) << st.status();
    return st.ok() ? st->live : datapath::NodeTables{};
  };
  ASSERT_TRUE(agent_->Enforce(good).ok());
  const datapath::NodeTables want_good = BuildNodeTables(good, {}, good.allowances);
  ASSERT_TRUE(LiveHolds(live(), want_good));
  ASSERT_FALSE(want_good.policy.empty());

  absl::Status refused = agent_->Enforce(bad);
  EXPECT_FALSE(refused.ok());
  EXPECT_NE(refused.message().find("port range entries"), std::string::npos) << refused.message();
  EXPECT_TRUE(LiveHolds(live(), want_good)) << "a refused update changed the tables";
  EXPECT_EQ(agent_->stats().apply_errors.load(), 1u);

  ASSERT_TRUE(agent_->Enforce(next).ok());
  const datapath::NodeTables want_next = BuildNodeTables(next, {}, next.allowances);
  EXPECT_FALSE(datapath::SameTables(want_next, want_good));
  EXPECT_TRUE(LiveHolds(live(), want_next))
      << "the refused update's entries leaked into the next one";
  // And back to the first state: both copies of the maps have been written since the failure.
  nodestate::NodeState again = good;
  again.version = 4;
  ASSERT_TRUE(agent_->Enforce(again).ok());
  EXPECT_TRUE(LiveHolds(live(), want_good));
}

constexpr char kGatewayNode[] = R"(
apiVersion: v1
kind: Node
metadata: {name: n1, labels: {cloud.google.com/gke-nodepool: gateway}}
)";

// The agent reading the manifests itself and the agent given the state the control plane cut
// decide the node's pool the same way: from the Node object's label, whatever --pool says (it
// holds only until the first state).
TEST_F(NodeAgentTest, BothSourcesTakeThePoolFromTheNodeLabel) {
  testlib::ScratchDir scratch(std::filesystem::temp_directory_path().string() +
                              "/warden-agenttest-manifests-" + std::to_string(getpid()));
  const std::string& manifests = scratch.path();
  std::ofstream(manifests + "/c.yaml") << kCluster << "---\n" << kGatewayNode;
  ASSERT_EQ(Options().pool, WD_POOL_DEFAULT);
  StartFromManifests(manifests);
  auto pinned = datapath::ReadPinnedState(bpffs_);
  ASSERT_TRUE(pinned.ok()) << pinned.status();
  EXPECT_EQ(pinned->config.pool, WD_POOL_GATEWAY) << "manifests mode";

  // The control plane's cut of the same manifests, offered to a new agent on the same pins.
  agent_.reset();
  control::ControlPlaneOptions co;
  co.pipeline.manifests = manifests;
  control::ControlPlane cp(co);
  cp.Refresh(true);
  auto agent = NodeAgent::Create(Options(), std::make_unique<OfferedHere>());
  ASSERT_TRUE(agent.ok()) << agent.status();
  agent_ = std::move(*agent);
  ASSERT_TRUE(agent_->Enforce(*cp.Current("n1")).ok());
  pinned = datapath::ReadPinnedState(bpffs_);
  ASSERT_TRUE(pinned.ok()) << pinned.status();
  EXPECT_EQ(pinned->config.pool, WD_POOL_GATEWAY) << "control mode";
}

// Manifests whose tables do not fit (more port sets than the compile may have: 100 here) never
// reach the datapath: the agent keeps the tables in force and counts the failed compile.
TEST_F(NodeAgentTest, ManifestsThatDoNotFitKeepTheTablesInForce) {
  testlib::ScratchDir scratch(std::filesystem::temp_directory_path().string() +
                              "/warden-agenttest-manifests-" + std::to_string(getpid()));
  const std::string& manifests = scratch.path();
  std::ofstream(manifests + "/c.yaml") << kCluster;
  StartFromManifests(manifests, /*portsets=*/100);
  auto before = datapath::ReadPinnedState(bpffs_);
  ASSERT_TRUE(before.ok()) << before.status();
  ASSERT_FALSE(before->live.policy.empty());
  std::string many = testlib::EgressPortsPolicy("x", "many", "{}", 110, 2000);
  std::ofstream(manifests + "/many.yaml") << many;
  std::filesystem::last_write_time(
      manifests + "/many.yaml",
      std::filesystem::file_time_type::clock::now() + std::chrono::seconds(5));
  std::atomic<bool> stop{false};
  std::thread loop([&] { agent_->Run(stop); });
  const std::string counted = "warden_compile_errors_total{node=\"n1\"} 1";
  for (int i = 0; i < 100 && agent_->RenderMetrics().find(counted) == std::string::npos; ++i)
    std::this_thread::sleep_for(std::chrono::milliseconds(20));
  stop = true;
  loop.join();
  EXPECT_NE(agent_->RenderMetrics().find(counted), std::string::npos);
  auto after = datapath::ReadPinnedState(bpffs_);
  ASSERT_TRUE(after.ok()) << after.status();
  EXPECT_EQ(after->config.generation, before->config.generation);
  EXPECT_TRUE(LiveHolds(after->live, before->live));
}

}  // namespace
}  // namespace warden::node
