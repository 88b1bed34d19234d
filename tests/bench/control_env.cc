#include "tests/bench/control_env.h"

#include <unistd.h>

#include <cstring>
#include <filesystem>

#include "absl/strings/str_cat.h"
#include "tests/bench/bench_failure.h"

#ifndef WARDEN_SOURCE_DIR
#define WARDEN_SOURCE_DIR ""
#endif

namespace warden::bench {
namespace {

namespace fs = std::filesystem;

std::string FindGenCerts(const fs::path& bin_dir) {
  std::vector<fs::path> candidates;
  if (std::strlen(WARDEN_SOURCE_DIR) > 0)
    candidates.push_back(fs::path(WARDEN_SOURCE_DIR) / "scripts/gen-certs");
  candidates.push_back(bin_dir / "../../scripts/gen-certs");
  for (const auto& c : candidates) {
    std::error_code ec;
    if (fs::exists(c, ec)) return fs::canonical(c).string();
  }
  throw Failure("cannot find scripts/gen-certs");
}

}  // namespace

std::unique_ptr<ControlEnv> MakeControlEnv() {
  auto env = std::make_unique<ControlEnv>();
  fs::path bin_dir = fs::read_symlink("/proc/self/exe").parent_path();
  env->warden = (bin_dir / "warden").string();
  if (access(env->warden.c_str(), X_OK) != 0)
    throw Failure("no warden binary next to this one: " + env->warden);
  env->gen_certs = FindGenCerts(bin_dir);
  const pid_t self = getpid();
  env->tmp = testlib::ScratchDir(absl::StrCat("/tmp/warden-ctlbench-", self));
  env->cgroups =
      Must(testlib::ScratchCgroup::Create(absl::StrCat("warden-ctlbench-", self)), "cgroups");
  env->bpffs = testlib::ScratchDir(absl::StrCat("/sys/fs/bpf/warden-ctlbench-", self));
  env->manifests = env->tmp.path() + "/manifests";
  env->stage = env->tmp.path() + "/stage";  // same filesystem: rename is atomic
  env->pki = env->tmp.path() + "/pki";
  fs::create_directories(env->stage);
  return env;
}

}  // namespace warden::bench
