// Finding pods' cgroups by kubelet's naming, for both cgroup drivers, on the real cgroup2
// filesystem. Needs root.
#include <unistd.h>

#include <algorithm>
#include <string>

#include <gtest/gtest.h>

#include "agent/common/cgroup.h"
#include "agent/common/kubelet_cgroups.h"
#include "tests/lib/scratch_cgroup.h"

namespace warden::common {
namespace {

class PodCgroupsTest : public ::testing::Test {
 protected:
  void SetUp() override {
    ASSERT_EQ(geteuid(), 0u) << "this test creates cgroups: it must run as root";
    auto cgroups = testlib::ScratchCgroup::Create("warden-test-pc-" + std::to_string(getpid()));
    ASSERT_TRUE(cgroups.ok()) << cgroups.status();
    cgroups_ = std::move(*cgroups);
    base_ = cgroups_.path();
  }
  void TearDown() override { EXPECT_TRUE(cgroups_.Remove().ok()); }
  // The paths are written out here, not taken from PodCgroupPath: they are what is tested.
  void Mk(const std::string& rel) {
    absl::Status st = common::MakeCgroup(base_ + "/" + rel);
    ASSERT_TRUE(st.ok()) << st;
  }
  testlib::ScratchCgroup cgroups_;
  std::string base_;
};

const char* kUid = "1f0e2d3c-4b5a-6978-8796-a5b4c3d2e1f0";

TEST_F(PodCgroupsTest, CgroupfsDriver) {
  Mk("node/kubepods/pod" + std::string(kUid));
  Mk("node/kubepods/burstable/pod11111111-2222-3333-4444-555555555555/container");
  Mk("node/kubepods/besteffort/pod66666666-7777-8888-9999-000000000000");
  auto k = FindKubepods(base_ + "/node");
  ASSERT_TRUE(k.ok()) << k.status();
  EXPECT_FALSE(k->systemd);
  EXPECT_EQ(k->path, base_ + "/node/kubepods");
  auto level = common::CgroupLevel(base_ + "/node/kubepods");
  ASSERT_TRUE(level.ok());
  EXPECT_EQ(k->level, *level);
  EXPECT_EQ(k->id, *common::CgroupId(base_ + "/node/kubepods"));
  EXPECT_EQ(FindPodCgroup(*k, kUid), base_ + "/node/kubepods/pod" + kUid);
  EXPECT_EQ(FindPodCgroup(*k, "11111111-2222-3333-4444-555555555555"),
            base_ + "/node/kubepods/burstable/pod11111111-2222-3333-4444-555555555555");
  EXPECT_EQ(FindPodCgroup(*k, "66666666-7777-8888-9999-000000000000"),
            base_ + "/node/kubepods/besteffort/pod66666666-7777-8888-9999-000000000000");
  EXPECT_FALSE(FindPodCgroup(*k, "00000000-0000-0000-0000-000000000000").has_value());
}

TEST_F(PodCgroupsTest, SystemdDriver) {
  std::string u = kUid;
  std::replace(u.begin(), u.end(), '-', '_');
  Mk("node/kubepods.slice/kubepods-pod" + u + ".slice");
  Mk("node/kubepods.slice/kubepods-burstable.slice/"
     "kubepods-burstable-pod11111111_2222_3333_4444_555555555555.slice");
  auto k = FindKubepods(base_ + "/node");
  ASSERT_TRUE(k.ok()) << k.status();
  EXPECT_TRUE(k->systemd);
  EXPECT_EQ(FindPodCgroup(*k, kUid), base_ + "/node/kubepods.slice/kubepods-pod" + u + ".slice");
  EXPECT_EQ(FindPodCgroup(*k, "11111111-2222-3333-4444-555555555555"),
            base_ +
                "/node/kubepods.slice/kubepods-burstable.slice/"
                "kubepods-burstable-pod11111111_2222_3333_4444_555555555555.slice");
}

TEST_F(PodCgroupsTest, NoKubepodsYetAndBadRoot) {
  Mk("node");
  auto k = FindKubepods(base_ + "/node");
  ASSERT_TRUE(k.ok());
  EXPECT_TRUE(k->path.empty());
  EXPECT_FALSE(FindPodCgroup(*k, kUid).has_value());
  EXPECT_FALSE(FindKubepods(base_ + "/missing").ok());
  EXPECT_FALSE(FindKubepods("/tmp").ok());  // not a cgroup directory
}

}  // namespace
}  // namespace warden::common
