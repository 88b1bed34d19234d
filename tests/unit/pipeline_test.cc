// The one pipeline from a manifests directory to node states (agent/nodestate/pipeline.h): what
// `warden control` and `warden node --manifests` both run. Node states cut from it equal those
// computed from a fresh compile; a compile that cannot fit the datapath's tables is an error
// naming the table, and the last good compile stays; the pool is the Node label's. No root.
#include "agent/nodestate/pipeline.h"

#include <unistd.h>

#include <chrono>
#include <filesystem>
#include <fstream>

#include <gtest/gtest.h>

#include "absl/strings/str_cat.h"
#include "agent/policy/identity_allocator.h"
#include "agent/policy/manifest_loader.h"
#include "tests/lib/yaml_text.h"

namespace warden::nodestate {
namespace {

namespace fs = std::filesystem;

constexpr char kCluster[] = R"(
apiVersion: v1
kind: Node
metadata: {name: gw, labels: {cloud.google.com/gke-nodepool: gateway}}
status: {addresses: [{type: InternalIP, address: 10.10.0.13}]}
---
apiVersion: v1
kind: Node
metadata: {name: n1, labels: {cloud.google.com/gke-nodepool: default-pool}}
---
apiVersion: v1
kind: Pod
metadata: {name: a, namespace: x, uid: ua, labels: {app: a}}
spec: {nodeName: n1, containers: [{name: c}]}
status: {podIP: 10.0.1.1}
---
apiVersion: v1
kind: Pod
metadata: {name: g, namespace: warden-egress, uid: ug, labels: {app: gw}}
spec: {nodeName: gw, containers: [{name: c}]}
status: {podIP: 10.0.3.1}
)";

// A policy selecting x/a with one egress rule per port: `ports` distinct port sets and more.
std::string ManyPorts(int ports) {
  return testlib::EgressPortsPolicy("x", "many", "{matchLabels: {app: a}}", ports, 1000);
}

class PipelineTest : public ::testing::Test {
 protected:
  void SetUp() override {
    dir_ = fs::temp_directory_path() / absl::StrCat("warden-pipeline-test-", getpid());
    fs::create_directories(dir_);
    Write("cluster.yaml", kCluster);
    Write("policy.yaml", ManyPorts(3));
    PipelineOptions o;
    o.manifests = dir_.string();
    o.node_states.allowances = {*policy::ParseAllowance("169.254.169.254/32:80/TCP")};
    pipeline_ = std::make_unique<DesiredStatePipeline>(o);
  }
  void TearDown() override { fs::remove_all(dir_); }
  void Write(const std::string& name, const std::string& text) {
    std::ofstream(dir_ / name) << text;
    // mtime granularity: the fingerprint must see a change within one tick.
    fs::last_write_time(dir_ / name,
                        fs::file_time_type::clock::now() + std::chrono::seconds(++bump_));
  }
  fs::path dir_;
  int bump_ = 0;
  std::unique_ptr<DesiredStatePipeline> pipeline_;
};

TEST_F(PipelineTest, NodeStatesEqualThoseOfAFreshCompile) {
  EXPECT_TRUE(pipeline_->Changed());
  DesiredStatePipeline::Result r = pipeline_->Run();
  ASSERT_TRUE(r.cluster) << r.status;
  EXPECT_TRUE(r.errors.empty());
  EXPECT_FALSE(pipeline_->Changed());
  EXPECT_EQ(r.cluster->NodeNames(), (std::vector<std::string>{"gw", "n1"}));
  auto fresh = policy::LoadManifestDir(dir_.string());
  policy::Snapshot snap = policy::Compile(fresh.state).value();
  for (const char* node : {"gw", "n1", "not-declared"}) {
    NodeState want =
        ComputeNodeState(fresh.state, snap, node,
                         {"warden-egress", {*policy::ParseAllowance("169.254.169.254/32:80/TCP")}});
    EXPECT_TRUE(r.cluster->NodeStateOf(node).SameContents(want)) << node;
  }
  // The pool is the Node object's label; a node the cluster does not declare is default.
  EXPECT_EQ(r.cluster->NodeStateOf("gw").pool, WD_POOL_GATEWAY);
  EXPECT_EQ(r.cluster->NodeStateOf("n1").pool, WD_POOL_DEFAULT);
  EXPECT_EQ(r.cluster->NodeStateOf("not-declared").pool, WD_POOL_DEFAULT);
  EXPECT_TRUE(r.cluster->NodeStateOf("gw").pods.at("warden-egress/g").gateway);
  EXPECT_EQ(r.cluster->NodeStateOf("n1").allowances.size(), 1u);
}

// More port sets than the datapath holds (here a limit of 100): the compile fails naming the
// table, the previous compile stays current, and the next good manifests compile again.
TEST_F(PipelineTest, ACompileThatDoesNotFitKeepsTheLastGoodOne) {
  PipelineOptions o;
  o.manifests = dir_.string();
  o.node_states.allowances = {*policy::ParseAllowance("169.254.169.254/32:80/TCP")};
  o.limits.portsets = 100;
  pipeline_ = std::make_unique<DesiredStatePipeline>(o);
  DesiredStatePipeline::Result good = pipeline_->Run();
  ASSERT_TRUE(good.cluster) << good.status;
  Write("policy.yaml", ManyPorts(110));
  ASSERT_TRUE(pipeline_->Changed());
  DesiredStatePipeline::Result bad = pipeline_->Run();
  EXPECT_FALSE(bad.cluster);
  EXPECT_EQ(bad.status.code(), absl::StatusCode::kResourceExhausted) << bad.status;
  EXPECT_NE(bad.status.message().find("port set"), std::string::npos) << bad.status;
  EXPECT_EQ(pipeline_->current(), good.cluster) << "the failed compile replaced the good one";
  Write("policy.yaml", ManyPorts(5));
  DesiredStatePipeline::Result again = pipeline_->Run();
  ASSERT_TRUE(again.cluster) << again.status;
  auto fresh = policy::LoadManifestDir(dir_.string());
  policy::Snapshot snap = policy::Compile(fresh.state).value();
  EXPECT_TRUE(again.cluster->NodeStateOf("n1").SameContents(
      ComputeNodeState(fresh.state, snap, "n1",
                       {"warden-egress", {*policy::ParseAllowance("169.254.169.254/32:80/TCP")}})));
}

// Compile reports what does not fit instead of leaving it to the kernel, and a failed compile
// leaves its cache as it was: the next compile builds on the last good one.
TEST(CompileLimitsTest, OverflowsAreErrorsAndTheCacheStays) {
  auto loaded = policy::LoadManifestTexts({{"c.yaml", kCluster}, {"p.yaml", ManyPorts(20)}});
  ASSERT_TRUE(loaded.errors.empty()) << loaded.errors[0].ToString();
  std::shared_ptr<policy::CompileCache> cache;
  policy::Snapshot first = policy::Compile(loaded.state, {}, &cache).value();
  auto kept = cache;
  policy::CompileOptions tight;
  tight.limits.portsets = 10;
  absl::StatusOr<policy::Snapshot> over = policy::Compile(loaded.state, tight, &cache);
  EXPECT_EQ(over.status().code(), absl::StatusCode::kResourceExhausted);
  EXPECT_EQ(cache, kept) << "a failed compile replaced the cache";
  for (auto [limits, table] : std::vector<std::pair<policy::TableLimits, std::string>>{
           {{WD_PORTSETS_MAX_ENTRIES, WD_PORTRANGES_LIMIT, 1, WD_IPCACHE_LIMIT},
            "pod and node address"},
           {{WD_PORTSETS_MAX_ENTRIES, WD_PORTRANGES_LIMIT, WD_IPHOST_LIMIT, 1},
            "ipcache prefix"}}) {
    absl::Status st = policy::CheckTableLimits(first, limits);
    EXPECT_EQ(st.code(), absl::StatusCode::kResourceExhausted) << table;
    EXPECT_NE(st.message().find(table), std::string::npos) << st;
  }
  EXPECT_TRUE(policy::CheckTableLimits(first, policy::TableLimits{}).ok());
}

// A set of more ranges than fit inline takes that many entries of wd_portranges: a compile that
// needs more than the table holds fails naming it; one that fits passes.
TEST(CompileLimitsTest, PortRangesBeyondTheTableAreAnError) {
  const std::string spaced = testlib::PolicyDoc(
      "x", "spaced",
      "  podSelector: {}\n  policyTypes: [Egress]\n  egress:\n"
      "  - ports: [{port: 1000}, {port: 1002}, {port: 1004}, {port: 1006}, {port: 1008}]\n");
  auto loaded = policy::LoadManifestTexts({{"c.yaml", kCluster}, {"p.yaml", spaced}});
  ASSERT_TRUE(loaded.errors.empty()) << loaded.errors[0].ToString();
  policy::CompileOptions tight;
  tight.limits.portranges = 4;
  absl::StatusOr<policy::Snapshot> over = policy::Compile(loaded.state, tight);
  ASSERT_EQ(over.status().code(), absl::StatusCode::kResourceExhausted) << over.status();
  EXPECT_NE(over.status().message().find("5 port range entries"), std::string::npos)
      << over.status();
  tight.limits.portranges = 5;
  EXPECT_TRUE(policy::Compile(loaded.state, tight).ok());
}

TEST(CompileLimitsTest, AnExhaustedIdentityRangeIsAnError) {
  policy::IdentityAllocator alloc(100, 102);
  EXPECT_TRUE(alloc.Allocate({"a", "b"}).ok());
  absl::StatusOr<std::vector<uint32_t>> more = alloc.Allocate({"c", "d"});
  EXPECT_EQ(more.status().code(), absl::StatusCode::kResourceExhausted) << more.status();
  EXPECT_TRUE(alloc.Allocate({"c"}).ok()) << "the last free id is still there";
}

}  // namespace
}  // namespace warden::nodestate
