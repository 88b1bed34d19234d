// Pods whose processes hold NET_RAW or NET_ADMIN are reported (capability_watch.h): real processes
// in real pod cgroups, with capabilities really given up (capset). Needs root (fails, never skips,
// without it).
#include "agent/node/capability_watch.h"

#include <linux/capability.h>
#include <signal.h>
#include <sys/wait.h>
#include <unistd.h>

#include <string>
#include <vector>

#include <gmock/gmock.h>
#include <gtest/gtest.h>

#include "agent/common/capabilities.h"
#include "agent/common/cgroup.h"
#include "tests/lib/child_process.h"
#include "tests/lib/kubelet_node.h"
#include "tests/lib/scratch_cgroup.h"

namespace warden::node {
namespace {

using ::testing::HasSubstr;
using ::testing::Not;

// A child that moves into `cgroup`, keeps only `keep`, then waits to be killed.
pid_t StartHolding(const std::string& cgroup, common::CapabilitySet keep) {
  return testlib::StartParked([&] {
    return common::MoveToCgroup(cgroup, getpid()).ok() && common::KeepOnlyCapabilities(keep).ok();
  });
}

void End(pid_t pid) {
  if (pid <= 0) return;
  kill(pid, SIGKILL);
  waitpid(pid, nullptr, 0);
}

TEST(CapabilitiesTest, NamesAndTheEffectiveSetOfAProcess) {
  EXPECT_EQ(common::CapabilityName(CAP_NET_RAW), "NET_RAW");
  EXPECT_EQ(common::CapabilityName(CAP_NET_ADMIN), "NET_ADMIN");
  EXPECT_EQ(common::CapabilityName(CAP_CHECKPOINT_RESTORE), "CHECKPOINT_RESTORE");
  EXPECT_EQ(common::CapabilityName(63), "CAP_63");
  ASSERT_EQ(geteuid(), 0u) << "this test gives up capabilities in children: it must run as root";
  auto mine = common::EffectiveCapabilities(getpid());
  ASSERT_TRUE(mine.ok()) << mine.status();
  EXPECT_TRUE(*mine & common::Capability(CAP_NET_ADMIN)) << "root holds NET_ADMIN";
  EXPECT_EQ(common::EffectiveCapabilities(999999999).status().code(), absl::StatusCode::kNotFound);
}

class CapabilityWatchTest : public ::testing::Test {
 protected:
  void SetUp() override {
    ASSERT_EQ(geteuid(), 0u) << "this test creates cgroups and processes: it must run as root";
    auto cg = testlib::ScratchCgroup::Create("warden-capwatch-" + std::to_string(getpid()));
    ASSERT_TRUE(cg.ok()) << cg.status();
    cgroups_ = std::move(*cg);
    auto node = testlib::KubeletNode::Create(cgroups_.path());
    ASSERT_TRUE(node.ok()) << node.status();
    for (const char* uid : {"raw", "admin", "none"}) {
      auto pod = node->AddPodWithContainer(uid);
      ASSERT_TRUE(pod.ok()) << pod.status();
      pods_.push_back(*pod);
    }
  }
  void TearDown() override {
    for (pid_t p : children_) End(p);
    EXPECT_TRUE(cgroups_.Remove().ok());
  }

  testlib::ScratchCgroup cgroups_;
  std::vector<testlib::PodCgroup> pods_;
  std::vector<pid_t> children_;
};

TEST_F(CapabilityWatchTest, PodsHoldingNetRawOrNetAdminAreReportedOnce) {
  using common::Capability;
  // containerd's default set keeps NET_RAW; a pod given NET_ADMIN; one restricted pod.
  children_.push_back(
      StartHolding(pods_[0].container, Capability(CAP_NET_RAW) | Capability(CAP_NET_BIND_SERVICE)));
  children_.push_back(StartHolding(pods_[1].container, Capability(CAP_NET_ADMIN)));
  children_.push_back(StartHolding(pods_[2].container, Capability(CAP_NET_BIND_SERVICE)));
  for (pid_t p : children_) ASSERT_GT(p, 0) << "a child could not take its place";
  const std::vector<std::pair<std::string, std::string>> pods = {
      {"x/raw", pods_[0].path}, {"x/admin", pods_[1].path}, {"x/none", pods_[2].path}};

  CapabilityWatch watch(common::Logger("test"));
  ::testing::internal::CaptureStderr();
  watch.Check(pods);
  std::string log = ::testing::internal::GetCapturedStderr();
  EXPECT_THAT(log, HasSubstr("pod x/raw runs with NET_RAW"));
  EXPECT_THAT(log, HasSubstr("pod x/admin runs with NET_ADMIN"));
  EXPECT_THAT(log, Not(HasSubstr("x/none")));
  std::string m;
  watch.AppendMetrics("node=\"n1\"", &m);
  EXPECT_THAT(m, HasSubstr("warden_pod_capability{node=\"n1\",namespace=\"x\",pod=\"raw\","
                           "capability=\"NET_RAW\"} 1"));
  EXPECT_THAT(m, HasSubstr("pod=\"admin\",capability=\"NET_ADMIN\"} 1"));
  EXPECT_THAT(m, Not(HasSubstr("pod=\"raw\",capability=\"NET_ADMIN\"")));
  EXPECT_THAT(m, Not(HasSubstr("pod=\"none\"")));

  // Unchanged: no new log line. A pod that gains one more: a line for what it gained.
  children_.push_back(StartHolding(pods_[0].container, Capability(CAP_NET_ADMIN)));
  ASSERT_GT(children_.back(), 0);
  ::testing::internal::CaptureStderr();
  watch.Check(pods);
  log = ::testing::internal::GetCapturedStderr();
  EXPECT_THAT(log, HasSubstr("pod x/raw runs with NET_ADMIN"));
  EXPECT_THAT(log, Not(HasSubstr("x/admin")));
  // A pod gone from the list is forgotten.
  watch.Check({pods[2]});
  m.clear();
  watch.AppendMetrics("node=\"n1\"", &m);
  EXPECT_THAT(m, Not(HasSubstr("pod=\"raw\"")));
}

}  // namespace
}  // namespace warden::node
