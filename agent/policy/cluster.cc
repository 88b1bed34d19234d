#include "agent/policy/cluster.h"

namespace warden::policy {

const Pod* ClusterState::FindPod(const std::string& key) const {
  auto it = pods.find(key);
  return it == pods.end() ? nullptr : &it->second;
}

const Pod* ClusterState::FindPodByIp(const IpAddress& ip) const {
  if (!pod_ip_index_) return nullptr;
  auto it = pod_ip_index_->by_ip.find(ip);
  return it == pod_ip_index_->by_ip.end() ? nullptr : it->second;
}

void ClusterState::Finalize() {
  auto ensure_ns = [&](const std::string& name) {
    if (namespaces.contains(name)) return;
    Namespace ns;
    ns.name = name;
    ns.labels[kNamespaceNameLabel] = name;
    ns.implicit = true;
    namespaces.emplace(name, std::move(ns));
  };
  if (namespaces_checked_.pods != pods.Pin() ||
      namespaces_checked_.namespaces != namespaces.Pin()) {
    // Pods are keyed "ns/name": a namespace's pods are adjacent, so one lookup per namespace.
    const std::string* last_ns = nullptr;
    for (const auto& [_, pod] : pods) {
      if (last_ns && *last_ns == pod.ns) continue;
      ensure_ns(pod.ns);
      last_ns = &pod.ns;
    }
  }
  for (const auto& [_, np] : policies) ensure_ns(np.ns);
  namespaces_checked_ = {pods.Pin(), namespaces.Pin()};
  // The index points into the pods map and holds it: writing to `pods` afterwards copies the
  // map, so an index whose map is still `pods` is up to date.
  if (pod_ip_index_ && pod_ip_index_->of == pods.Pin()) return;
  auto index = std::make_shared<PodIpIndex>();
  index->of = pods.Pin();
  for (const auto& [_, pod] : *index->of) {
    if (pod.host_network) continue;
    for (const auto& ip : pod.ips) index->by_ip.emplace(ip, &pod);
  }
  pod_ip_index_ = std::move(index);
}

}  // namespace warden::policy
