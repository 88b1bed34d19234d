#include "tests/bench/datapath_env.h"

#include <unistd.h>

#include <filesystem>

#include "absl/strings/str_cat.h"
#include "tests/bench/bench_failure.h"

namespace warden::bench {

std::unique_ptr<DatapathEnv> MakeDatapathEnv() {
  auto env = std::make_unique<DatapathEnv>();
  const pid_t pid = env->pid = getpid();
  env->tmp = testlib::ScratchDir(absl::StrCat("/tmp/warden-bench-", pid));
  env->cgroups =
      Must(testlib::ScratchCgroup::Create(absl::StrCat("warden-bench-", pid)), "making cgroups");
  env->bpffs = testlib::ScratchDir(absl::StrCat("/sys/fs/bpf/warden-bench-", pid),
                                   testlib::ScratchDir::Make::kLater);
  env->ns_client = absl::StrCat("wdb-", pid, "-c");
  env->ns_server = absl::StrCat("wdb-", pid, "-s");
  env->veth_c = absl::StrCat("wdb", pid, "c");
  env->veth_s = absl::StrCat("wdb", pid, "s");
  env->warden_binary =
      (std::filesystem::read_symlink("/proc/self/exe").parent_path() / "warden").string();
  return env;
}

}  // namespace warden::bench
