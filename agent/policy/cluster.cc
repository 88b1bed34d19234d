#include "agent/policy/cluster.h"

namespace warden::policy {

const Pod* ClusterState::FindPod(const std::string& key) const {
  auto it = pods.find(key);
  return it == pods.end() ? nullptr : &it->second;
}

const Pod* ClusterState::FindPodByIp(const IpAddress& ip) const {
  auto it = pod_by_ip_.find(ip);
  return it == pod_by_ip_.end() ? nullptr : it->second;
}

void ClusterState::Finalize() {
  auto ensure_ns = [&](const std::string& name) {
    if (namespaces.count(name)) return;
    Namespace ns;
    ns.name = name;
    ns.labels[kNamespaceNameLabel] = name;
    ns.implicit = true;
    namespaces.emplace(name, std::move(ns));
  };
  for (const auto& [_, pod] : pods) ensure_ns(pod.ns);
  for (const auto& [_, np] : policies) ensure_ns(np.ns);
  pod_by_ip_.clear();
  for (const auto& [_, pod] : pods) {
    if (pod.host_network) continue;
    for (const auto& ip : pod.ips) pod_by_ip_.emplace(ip, &pod);
  }
}

}  // namespace warden::policy
