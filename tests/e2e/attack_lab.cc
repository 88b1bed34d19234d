#include "tests/e2e/attack_lab.h"

#include <unistd.h>

#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <sstream>

namespace warden::e2e {

namespace fs = std::filesystem;

std::string AttackLab::dir_, AttackLab::state_, AttackLab::up_error_;
nlohmann::json AttackLab::lab_;

void AttackLab::SetUpTestSuite() {
  if (geteuid() != 0) {
    up_error_ = "the lab needs root (network namespaces, cgroups, BPF)";
    return;
  }
  dir_ = (fs::temp_directory_path() / ("warden-attack-" + std::to_string(getpid()))).string();
  state_ = dir_ + "-state";
  fs::create_directories(dir_);
  fs::copy(fs::path(WARDEN_SOURCE_DIR) / "deploy/examples/reference", dir_,
           fs::copy_options::recursive);
  // WARDEN_ATTACK_LAB_UP_FLAGS=--no-agents brings the lab up without enforcement: every attack
  // then gets through, which shows each test can fail (docs/lab.md).
  const char* extra = std::getenv("WARDEN_ATTACK_LAB_UP_FLAGS");
  Result r =
      Warden("lab up --manifests " + dir_ + " --state " + state_ + " " + (extra ? extra : ""));
  if (r.code != 0) {
    up_error_ = "lab up failed: " + r.out + r.err;
    return;
  }
  lab_ = nlohmann::json::parse(std::ifstream(state_ + "/state.json"));
}

void AttackLab::TearDownTestSuite() {
  if (state_.empty()) return;
  Result r = Warden("lab down --state " + state_);
  EXPECT_EQ(r.code, 0) << r.err;
  fs::remove_all(dir_);
  EXPECT_EQ(Sh("ip netns list | grep -c '^wl-' || true").out, "0\n")
      << "lab down left network namespaces behind";
  EXPECT_FALSE(fs::exists("/sys/fs/bpf/warden-lab")) << "lab down left BPF pins behind";
}

void AttackLab::SetUp() {
  ASSERT_EQ(geteuid(), 0u) << "the attack suites need root (network namespaces, cgroups, BPF)";
  ASSERT_TRUE(up_error_.empty()) << up_error_;
}

const nlohmann::json& AttackLab::Pod(const std::string& key) {
  for (const auto& p : lab_["pods"]) {
    if (p["key"] == key) return p;
  }
  throw std::runtime_error("no pod " + key + " in the lab");
}

std::string AttackLab::InternetNetns() { return lab_["inet"]["netns"]; }

std::string AttackLab::NodeNetns(const std::string& node) {
  for (const auto& n : lab_["nodes"]) {
    if (n["name"] == node) return n["netns"];
  }
  throw std::runtime_error("no node " + node + " in the lab");
}

Result AttackLab::Attack(const std::string& place, const std::string& args, bool privileged) {
  return Warden("lab exec --state " + state_ + " --in " + place +
                (privileged ? " --privileged" : "") + " -- " + WARDEN_ATTACK_BIN + " " + args);
}

AttackLab::Watched AttackLab::AttackAndWatch(const std::string& place, const std::string& args,
                                             const std::string& netns,
                                             const std::function<bool(const SeenPacket&)>& match,
                                             bool privileged) {
  Capture capture(netns);
  Watched w;
  w.attacker = Attack(place, args, privileged);
  w.arrived = Matching(capture.Stop(), match);
  return w;
}

std::string AttackLab::Marker(const std::string& what) {
  static int n = 0;
  const auto* t = ::testing::UnitTest::GetInstance()->current_test_info();
  return "WL" + std::to_string(getpid() % 10000) + "-" + (t ? t->name() : "x") + "-" + what + "-" +
         std::to_string(++n);
}

}  // namespace warden::e2e
