#include "agent/node/capability_watch.h"

#include <linux/capability.h>

#include "absl/strings/str_cat.h"
#include "absl/strings/str_join.h"

namespace warden::node {

const common::CapabilitySet CapabilityWatch::kWatched =
    common::Capability(CAP_NET_ADMIN) | common::Capability(CAP_NET_RAW);

namespace {

std::vector<std::string> Names(common::CapabilitySet caps) {
  std::vector<std::string> out;
  for (int n = 0; n < 64; ++n) {
    if (caps & common::Capability(n)) out.push_back(common::CapabilityName(n));
  }
  return out;
}

}  // namespace

void CapabilityWatch::Check(const std::vector<std::pair<std::string, std::string>>& pods) {
  std::map<std::string, common::CapabilitySet> now;
  for (const auto& [pod, cgroup] : pods) {
    absl::StatusOr<common::CapabilitySet> caps = common::EffectiveCapabilitiesInCgroup(cgroup);
    if (caps.ok()) now[pod] = *caps & kWatched;  // a pod gone meanwhile: next time
  }
  std::lock_guard<std::mutex> l(mu_);
  for (const auto& [pod, caps] : now) {
    auto before = held_.find(pod);
    common::CapabilitySet gained = caps & ~(before == held_.end() ? 0 : before->second);
    if (gained) {
      log_.Warning("pod ", pod, " runs with ", absl::StrJoin(Names(gained), " and "),
                   ": packet sockets and tunnels bypass the cgroup programs (drop them: Pod "
                   "Security Standard restricted)");
    }
  }
  held_ = std::move(now);
}

void CapabilityWatch::AppendMetrics(const std::string& labels, std::string* out) const {
  absl::StrAppend(out,
                  "# HELP warden_pod_capability A pod's processes hold this capability (NET_RAW, "
                  "NET_ADMIN reach past the cgroup programs).\n",
                  "# TYPE warden_pod_capability gauge\n");
  std::lock_guard<std::mutex> l(mu_);
  for (const auto& [pod, caps] : held_) {
    const size_t slash = pod.find('/');
    for (const std::string& name : Names(caps)) {
      absl::StrAppend(out, "warden_pod_capability{", labels, ",namespace=\"", pod.substr(0, slash),
                      "\",pod=\"", pod.substr(slash + 1), "\",capability=\"", name, "\"} 1\n");
    }
  }
}

}  // namespace warden::node
