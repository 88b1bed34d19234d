// One lab of the reference scenario for a whole test suite: deploy/examples/reference copied to
// a directory of the suite's own (so edits stay there), brought up, and taken down with a check
// that no lab namespace is left. Needs root.
#pragma once

#include <unistd.h>

#include <filesystem>
#include <string>

#include <gtest/gtest.h>

#include "tests/e2e/e2e_util.h"

namespace warden::e2e {

struct ReferenceLab {
  std::string dir;    // the manifests the lab reads
  std::string state;  // its --state directory
  std::string error;  // why it is not up ("" when it is)

  // `name` names the directories; `flags` go to `lab up`.
  static ReferenceLab Up(const std::string& name, const std::string& flags = "") {
    namespace fs = std::filesystem;
    ReferenceLab lab;
    if (geteuid() != 0) {
      lab.error = "the lab needs root (network namespaces, cgroups, BPF)";
      return lab;
    }
    lab.dir = (fs::temp_directory_path() / (name + "-" + std::to_string(getpid()))).string();
    lab.state = lab.dir + "-state";
    fs::create_directories(lab.dir);
    fs::copy(fs::path(WARDEN_SOURCE_DIR) / "deploy/examples/reference", lab.dir,
             fs::copy_options::recursive);
    Result r = Warden("lab up --manifests " + lab.dir + " --state " + lab.state + " " + flags);
    if (r.code != 0) lab.error = "lab up failed: " + r.out + r.err;
    return lab;
  }

  void Down() const {
    if (state.empty()) return;
    Result r = Warden("lab down --state " + state);
    EXPECT_EQ(r.code, 0) << r.err;
    std::filesystem::remove_all(dir);
    EXPECT_EQ(Sh("ip netns list | grep -c '^wl-' || true").out, "0\n");
  }
};

}  // namespace warden::e2e
