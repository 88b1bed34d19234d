#include "agent/common/kubelet_cgroups.h"

#include <sys/stat.h>
#include <unistd.h>

#include <algorithm>

#include "absl/strings/str_cat.h"
#include "agent/common/cgroup.h"
#include "agent/common/status_macros.h"

namespace warden::common {

namespace {
bool IsDir(const std::string& p) {
  struct stat st;
  return stat(p.c_str(), &st) == 0 && S_ISDIR(st.st_mode);
}
}  // namespace

absl::StatusOr<KubepodsCgroup> FindKubepods(const std::string& cgroup_root) {
  if (!IsDir(cgroup_root))
    return absl::NotFoundError(absl::StrCat("--cgroup-root ", cgroup_root, " is not a directory"));
  if (access((cgroup_root + "/cgroup.procs").c_str(), F_OK) != 0) {
    return absl::InvalidArgumentError(
        absl::StrCat("--cgroup-root ", cgroup_root, " is not a cgroup v2 directory"));
  }
  KubepodsCgroup k;
  for (const char* name : {"kubepods", "kubepods.slice"}) {
    std::string p = absl::StrCat(cgroup_root, "/", name);
    if (!IsDir(p)) continue;
    WD_ASSIGN_OR_RETURN(k.id, CgroupId(p));
    WD_ASSIGN_OR_RETURN(k.level, CgroupLevel(p));
    k.path = p;
    k.systemd = std::string(name) == "kubepods.slice";
    return k;
  }
  return k;
}

std::string PodCgroupPath(const KubepodsCgroup& k, const std::string& qos, const std::string& uid) {
  if (!k.systemd) {
    return qos == "guaranteed" ? absl::StrCat(k.path, "/pod", uid)
                               : absl::StrCat(k.path, "/", qos, "/pod", uid);
  }
  std::string u = uid;
  std::replace(u.begin(), u.end(), '-', '_');
  if (qos == "guaranteed") return absl::StrCat(k.path, "/kubepods-pod", u, ".slice");
  return absl::StrCat(k.path, "/kubepods-", qos, ".slice/kubepods-", qos, "-pod", u, ".slice");
}

std::optional<std::string> FindPodCgroup(const KubepodsCgroup& k, const std::string& uid) {
  if (k.path.empty() || uid.empty()) return std::nullopt;
  for (const char* qos : {"guaranteed", "burstable", "besteffort"}) {
    std::string p = PodCgroupPath(k, qos, uid);
    if (IsDir(p)) return p;
  }
  return std::nullopt;
}

}  // namespace warden::common
