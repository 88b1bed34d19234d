// ManifestSource keeps the last valid version of a file that turns invalid, so a bad edit never
// changes what is enforced; deleting a file does.
#include <unistd.h>

#include <filesystem>
#include <fstream>

#include <gtest/gtest.h>

#include "agent/policy/manifest_loader.h"

namespace warden::policy {
namespace {

namespace fs = std::filesystem;

class ManifestSourceTest : public ::testing::Test {
 protected:
  void SetUp() override {
    dir_ = fs::temp_directory_path() / ("warden-src-" + std::to_string(getpid()));
    fs::create_directories(dir_ / "sub");
  }
  void TearDown() override { fs::remove_all(dir_); }
  void Write(const std::string& name, const std::string& text) {
    std::ofstream(dir_ / name) << text;
  }
  fs::path dir_;
};

const char* kPolicy = R"(apiVersion: networking.k8s.io/v1
kind: NetworkPolicy
metadata: {name: deny, namespace: x}
spec:
  podSelector: {}
  policyTypes: [Ingress]
)";

const char* kPod = R"(apiVersion: v1
kind: Pod
metadata: {name: a, namespace: x}
status: {podIP: 10.0.0.1}
)";

TEST_F(ManifestSourceTest, InvalidEditKeepsLastValidVersion) {
  Write("pod.yaml", kPod);
  Write("sub/policy.yaml", kPolicy);
  ManifestSource src(dir_.string());
  LoadResult r = src.Load();
  ASSERT_TRUE(r.errors.empty());
  ASSERT_EQ(r.state.policies.count("x/deny"), 1u);

  // A broken edit: the policy stays in force, the error is reported.
  Write("sub/policy.yaml",
        "apiVersion: networking.k8s.io/v1\nkind: NetworkPolicy\nmetadata: {name: deny, namespace: "
        "x}\nspec:\n  policyTypes: [Sideways]\n");
  r = src.Load();
  ASSERT_EQ(r.errors.size(), 1u);
  EXPECT_NE(r.errors[0].file.find("policy.yaml"), std::string::npos);
  EXPECT_EQ(r.errors[0].field, "spec.policyTypes[0]");
  EXPECT_EQ(r.state.policies.count("x/deny"), 1u);
  EXPECT_TRUE(r.state.policies.at("x/deny").affects_ingress);
  EXPECT_EQ(r.state.pods.count("x/a"), 1u);

  // Unparseable YAML: the same.
  Write("sub/policy.yaml", "spec: [unclosed\n");
  r = src.Load();
  ASSERT_FALSE(r.errors.empty());
  EXPECT_EQ(r.state.policies.count("x/deny"), 1u);

  // Fixed: the new version applies.
  Write("sub/policy.yaml", std::string(kPolicy) + "  ingress: [{}]\n");
  r = src.Load();
  ASSERT_TRUE(r.errors.empty());
  EXPECT_EQ(r.state.policies.at("x/deny").ingress.size(), 1u);

  // Deleted: gone.
  fs::remove(dir_ / "sub/policy.yaml");
  r = src.Load();
  EXPECT_TRUE(r.errors.empty());
  EXPECT_EQ(r.state.policies.count("x/deny"), 0u);
}

TEST_F(ManifestSourceTest, NewInvalidFileContributesNothing) {
  Write("pod.yaml", kPod);
  ManifestSource src(dir_.string());
  ASSERT_TRUE(src.Load().errors.empty());
  Write("bad.yaml",
        "apiVersion: networking.k8s.io/v1\nkind: NetworkPolicy\nmetadata: {name: deny, namespace: "
        "x}\nspec:\n  podSelector: {}\n  ingress: [{from: [{}]}]\n");
  LoadResult r = src.Load();
  ASSERT_EQ(r.errors.size(), 1u);
  EXPECT_EQ(r.state.policies.size(), 0u);
  EXPECT_EQ(r.state.pods.size(), 1u);
}

TEST(DerivedPodUid, StableAndUuidShaped) {
  std::string a = DerivedPodUid("x", "a");
  EXPECT_EQ(a, DerivedPodUid("x", "a"));
  EXPECT_NE(a, DerivedPodUid("x", "b"));
  ASSERT_EQ(a.size(), 36u);
  EXPECT_EQ(a[8], '-');
  EXPECT_EQ(a[13], '-');
  LoadResult r = LoadManifestTexts({{"p.yaml", kPod}});
  EXPECT_EQ(r.state.pods.at("x/a").uid, DerivedPodUid("x", "a"));
}

}  // namespace
}  // namespace warden::policy
