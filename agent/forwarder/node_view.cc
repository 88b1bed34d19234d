#include "agent/forwarder/node_view.h"

#include <algorithm>

#include "absl/strings/str_cat.h"

namespace warden::forwarder {

NodeSnapshot SnapshotOf(const nodestate::NodeState& s,
                        const absl::flat_hash_map<uint64_t, std::string>& pod_by_cgroup) {
  NodeSnapshot out;
  out.gateways = s.gateways;
  for (const auto& [cgroup, key] : pod_by_cgroup) {
    auto p = s.pods.get().find(key);
    if (p == s.pods.end()) continue;
    PodInfo info;
    info.identity = p->second.identity;
    info.addresses = p->second.addresses;
    size_t slash = key.find('/');
    info.ns = key.substr(0, slash);
    info.name = slash == std::string::npos ? "" : key.substr(slash + 1);
    if (auto id = s.identities->find(info.identity); id != s.identities->end())
      info.service_account = id->second.service_account;
    out.pods.emplace(cgroup, std::move(info));
  }
  return out;
}

void NodeView::Update(const nodestate::NodeState& s,
                      const absl::flat_hash_map<uint64_t, std::string>& pod_by_cgroup) {
  auto next = std::make_shared<const NodeSnapshot>(SnapshotOf(s, pod_by_cgroup));
  std::lock_guard<std::mutex> l(mu_);
  snap_ = std::move(next);
}

std::shared_ptr<const NodeSnapshot> NodeView::Get() const {
  std::lock_guard<std::mutex> l(mu_);
  return snap_;
}

absl::StatusOr<nodestate::Flow> FlowOf(const NodeSnapshot& snap, const Record& r,
                                       const policy::IpAddress& peer) {
  auto p = snap.pods.find(r.cgroup_id);
  if (p == snap.pods.end())
    return absl::NotFoundError(absl::StrCat("no local pod has cgroup ", r.cgroup_id));
  const PodInfo& pod = p->second;
  if (std::find(pod.addresses.begin(), pod.addresses.end(), peer) == pod.addresses.end()) {
    return absl::PermissionDeniedError(absl::StrCat("the connection comes from ", peer.ToString(),
                                                    ", not an address of ", pod.ns, "/", pod.name));
  }
  nodestate::Flow f;
  f.ns = pod.ns;
  f.pod = pod.name;
  f.service_account = pod.service_account;
  f.identity = pod.identity;
  f.original_ip = r.original_ip;
  f.original_port = r.original_port;
  f.flow_id = r.cookie;
  return f;
}

}  // namespace warden::forwarder
