#include "agent/lab/lab_places.h"

#include "absl/strings/str_cat.h"
#include "agent/policy/ip.h"

namespace warden::lab {

absl::StatusOr<Place> PlaceOf(const LabState& lab, const std::string& text, const char* flag) {
  if (text.starts_with("node:")) {
    if (const LabNode* n = lab.FindNode(text.substr(5))) return Place{n->system_cgroup, n->netns};
    return absl::NotFoundError(absl::StrCat(flag, " ", text, ": no such node in the lab"));
  }
  if (text == "internet") return Place{lab.inet.cgroup, lab.inet.netns};
  if (const LabPod* p = lab.FindPod(text)) return Place{p->cgroup, p->netns, true};
  return absl::NotFoundError(
      absl::StrCat(flag, " ", text, ": no such pod in the lab (NS/POD, node:NAME or internet)"));
}

const std::string& PodAddress(const LabPod& pod, int family) {
  return family == 6 ? pod.ip6 : pod.ip;
}

absl::StatusOr<Target> TargetOf(const LabState& lab, const std::string& to, int family) {
  if (const LabPod* p = lab.FindPod(to)) {
    if (family == 0) family = p->ip.empty() ? 6 : 4;
    if (PodAddress(*p, family).empty())
      return absl::NotFoundError(
          absl::StrCat("--to ", to, ": the pod has no IPv", family, " address (--family)"));
    return Target{PodAddress(*p, family), family};
  }
  auto ip = policy::ParseIp(to);
  if (!ip.ok())
    return absl::NotFoundError(
        absl::StrCat("--to ", to, ": no such pod in the lab, and not an address"));
  int is = static_cast<int>(ip->family);
  if (family != 0 && family != is)
    return absl::InvalidArgumentError(
        absl::StrCat("--to ", to, " is an IPv", is, " address, but --family is ", family));
  return Target{to, is};
}

}  // namespace warden::lab
