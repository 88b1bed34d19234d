#include "tests/lib/scratch_cgroup.h"

#include <unistd.h>

#include <cstdio>
#include <utility>

#include "absl/strings/match.h"
#include "absl/strings/str_cat.h"
#include "agent/common/cgroup.h"

namespace warden::testlib {

absl::StatusOr<ScratchCgroup> ScratchCgroup::Create(const std::string& name) {
  auto mount = common::FindCgroup2Mount();
  if (!mount.ok()) return mount.status();
  auto home = common::CgroupOfProcess(0);
  if (!home.ok()) return home.status();
  ScratchCgroup cg;
  std::string path = absl::StrCat(*mount, "/", name);
  if (absl::Status st = common::MakeCgroup(path); !st.ok()) return st;
  cg.path_ = std::move(path);
  cg.home_ = *home;
  return cg;
}

ScratchCgroup::ScratchCgroup(ScratchCgroup&& other) noexcept
    : path_(std::exchange(other.path_, "")), home_(std::move(other.home_)) {}

ScratchCgroup& ScratchCgroup::operator=(ScratchCgroup&& other) noexcept {
  if (this != &other) {
    Remove().IgnoreError();
    path_ = std::exchange(other.path_, "");
    home_ = std::move(other.home_);
  }
  return *this;
}

ScratchCgroup::~ScratchCgroup() {
  if (absl::Status st = Remove(); !st.ok())
    std::fprintf(stderr, "cleanup: %s\n", st.ToString().c_str());
}

absl::Status ScratchCgroup::Remove() {
  if (path_.empty()) return absl::OkStatus();
  // Never end this process along with the tree's: leave it first.
  auto self = common::CgroupOfProcess(0);
  if (!self.ok()) return self.status();
  auto inside = [&](const std::string& cg) {
    return cg == path_ || absl::StartsWith(cg, path_ + "/");
  };
  if (inside(*self)) {
    if (absl::Status st = common::MoveToCgroup(home_, getpid()); !st.ok()) return st;
    self = common::CgroupOfProcess(0);
    if (!self.ok()) return self.status();
    if (inside(*self)) {
      return absl::FailedPreconditionError(
          absl::StrCat("this process is still in ", *self, ": not removing ", path_));
    }
  }
  common::KillCgroupProcesses(path_);
  absl::Status st = common::RemoveCgroupTree(path_);
  if (st.ok()) path_.clear();
  return st;
}

}  // namespace warden::testlib
