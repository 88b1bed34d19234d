#include "agent/lab/lab_plan.h"

#include <algorithm>
#include <filesystem>
#include <optional>

#include "absl/strings/str_cat.h"
#include "agent/common/kubelet_cgroups.h"
#include "agent/common/log.h"
#include "agent/lab/lab_network.h"

namespace warden::lab {
namespace {

// The first address of `family` in `ips`, or "".
std::string FirstOf(policy::Family family, const std::vector<policy::IpAddress>& ips) {
  for (const auto& a : ips) {
    if (a.family == family) return a.ToString();
  }
  return "";
}

std::vector<std::string> NodeNames(const policy::ClusterState& cluster) {
  std::vector<std::string> names;
  for (const auto& [n, _] : cluster.nodes) names.push_back(n);
  for (const auto& [_, p] : cluster.pods) {
    if (!p.node_name.empty() && std::find(names.begin(), names.end(), p.node_name) == names.end())
      names.push_back(p.node_name);
  }
  return names;
}

LabNode PlanNode(size_t index, const std::string& name, const policy::ClusterState& cluster,
                 const std::string& lab_cgroup) {
  LabNode n;
  n.name = name;
  n.netns = NodeNetns(index);
  n.ip = NodeFabricIp(index);
  n.ip6 = NodeFabricIp6(index);
  n.pool = "default";
  n.cgroup = absl::StrCat(lab_cgroup, "/", name);
  n.system_cgroup = n.cgroup + "/system";
  n.bpffs = absl::StrCat(kLabBpffs, "/", name);
  auto it = cluster.nodes.find(name);
  if (it == cluster.nodes.end()) return n;
  const policy::Node& node = it->second;
  if (std::string ip = FirstOf(policy::Family::kV4, node.addresses); !ip.empty()) n.ip = ip;
  if (std::string ip = FirstOf(policy::Family::kV6, node.addresses); !ip.empty()) n.ip6 = ip;
  for (const auto& c : node.pod_cidrs) n.pod_cidrs.push_back(c.ToString());
  if (policy::IsGatewayPool(node)) n.pool = policy::kGatewayPool;
  return n;
}

// The `index`th pod of the lab, or nullopt for a pod the lab does not create.
std::optional<LabPod> PlanPod(size_t index, const policy::Pod& pod, const LabState& lab) {
  if (pod.host_network || pod.node_name.empty()) return std::nullopt;
  std::string ip = FirstOf(policy::Family::kV4, pod.ips);
  std::string ip6 = FirstOf(policy::Family::kV6, pod.ips);
  if (ip.empty() && ip6.empty()) {
    common::Logger("lab").Warning("pod ", pod.Key(), " has no status.podIP(s); not created");
    return std::nullopt;
  }
  const LabNode* node = lab.FindNode(pod.node_name);  // planned for every pod's nodeName
  if (!node) return std::nullopt;
  return LabPod{
      pod.Key(), pod.node_name, PodNetns(index),
      // A Burstable pod's cgroup, named as kubelet (cgroupfs driver) names it.
      common::PodCgroupPath({node->cgroup + "/kubepods"}, "burstable", pod.uid) + "/probe", ip, ip6,
      std::nullopt};
}

}  // namespace

absl::StatusOr<LabState> PlanLab(const policy::ClusterState& cluster, const std::string& manifests,
                                 const std::string& lab_cgroup) {
  std::vector<std::string> names = NodeNames(cluster);
  if (names.empty())
    return absl::InvalidArgumentError("no nodes: declare Node objects or give pods spec.nodeName");
  LabState lab;
  lab.manifests = std::filesystem::absolute(manifests).string();
  lab.lab_cgroup = lab_cgroup;
  lab.inet = LabInternet{kInternetNetns, lab_cgroup + "/world", kWorldHosts};
  for (size_t i = 0; i < names.size(); ++i)
    lab.nodes.push_back(PlanNode(i, names[i], cluster, lab_cgroup));
  for (const auto& [_, pod] : cluster.pods) {
    if (auto p = PlanPod(lab.pods.size(), pod, lab)) lab.pods.push_back(std::move(*p));
  }
  return lab;
}

}  // namespace warden::lab
