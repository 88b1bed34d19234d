#include "agent/control/control_plane.h"

#include <random>

#include <optional>
#include <set>
#include <utility>

namespace warden::control {

ControlPlane::ControlPlane(ControlPlaneOptions opts)
    : opts_(std::move(opts)), pipeline_(opts_.pipeline) {
  // Versions never repeat across restarts of the control plane nor across its replicas: an agent
  // that still holds version N of an earlier run, or of the replica it was connected to before,
  // must not mistake a different state numbered N for its own and apply a delta to it. So the
  // low bits are this run's random tag (two runs share one with odds of 1 in 4 million), and the
  // count above them starts from the clock (versions grow across restarts, for people reading
  // them).
  next_version_ = static_cast<uint64_t>(std::chrono::duration_cast<std::chrono::milliseconds>(
                                            std::chrono::system_clock::now().time_since_epoch())
                                            .count());
  replica_tag_ = std::random_device{}() & ((1u << kReplicaTagBits) - 1);
}

uint64_t ControlPlane::NewVersion() { return (next_version_++ << kReplicaTagBits) | replica_tag_; }

void ControlPlane::AddVersion(PerNode& pn, NodeState s, std::chrono::steady_clock::time_point at) {
  s.version = NewVersion();
  pn.changed_at[s.version] = at;
  pn.versions.push_back(std::make_shared<const NodeState>(std::move(s)));
  while (pn.versions.size() > opts_.history) {
    pn.changed_at.erase(pn.versions.front()->version);
    release_.Release(std::move(pn.versions.front()));
    pn.versions.pop_front();
  }
}

ControlPlane::PerNode& ControlPlane::Node(const std::string& node) {
  PerNode& pn = nodes_[node];
  if (pn.versions.empty()) {
    NodeState s;
    s.node = node;
    if (cluster_) s = cluster_->NodeStateOf(node);
    AddVersion(pn, std::move(s), std::chrono::steady_clock::now());
  }
  return pn;
}

bool ControlPlane::Refresh(bool force) {
  if (!force && !pipeline_.Changed()) return false;
  auto t0 = std::chrono::steady_clock::now();
  nodestate::DesiredStatePipeline::Result r = pipeline_.Run();
  ++reloads_;
  manifest_errors_ = r.errors.size();
  for (const auto& e : r.errors) log_.Warning("manifest error: ", e.ToString());
  if (!r.cluster) {
    ++compile_errors_;
    log_.Error("keeping every node's state in force: ", r.status.message());
    return false;
  }
  // Every node's state is computed before taking the lock: streams keep heartbeating and
  // reading acks meanwhile.
  std::vector<std::string> names = r.cluster->NodeNames();
  {
    std::lock_guard<std::mutex> l(mu_);
    for (const auto& [n, _] : nodes_) names.push_back(n);
  }
  std::map<std::string, NodeState> fresh;
  for (const auto& n : names) {
    if (!fresh.count(n)) fresh.emplace(n, r.cluster->NodeStateOf(n));
  }
  // So is what gateways are sent, once one has asked.
  std::optional<nodestate::GatewayState> gateway;
  if (gateways_wanted_) {
    std::shared_ptr<const nodestate::GatewayState> was;
    std::shared_ptr<const void> was_pods_of;
    {
      std::lock_guard<std::mutex> l(mu_);
      was = gateway_;
      was_pods_of = gateway_pods_of_;
    }
    gateway = CutGateway(*r.cluster, was.get(), was_pods_of);
  }
  auto now = std::chrono::steady_clock::now();
  bool changed = false;
  std::shared_ptr<const nodestate::CompiledCluster> replaced;
  {
    std::lock_guard<std::mutex> l(mu_);
    replaced = std::exchange(cluster_, r.cluster);
    for (auto& [n, s] : fresh) {
      PerNode& pn = nodes_[n];
      if (!pn.versions.empty() && pn.versions.back()->SameContents(s)) continue;
      AddVersion(pn, std::move(s), now);
      changed = true;
    }
    if (gateway && PublishGatewayLocked(std::move(*gateway), *r.cluster, now)) changed = true;
    if (changed) {
      ++changes_;
      cv_.notify_all();
    }
  }
  // What the change replaced is freed after it is published, not before.
  release_.Release(std::move(replaced));
  release_.Release(std::move(r.snapshot));
  auto ms = [](auto a, auto b) {
    return std::chrono::duration_cast<std::chrono::milliseconds>(b - a).count();
  };
  log_.Info("reload ", reloads_.load(), " in ", ms(t0, now), " ms (load ",
            static_cast<int64_t>(r.load_ms), ", compile ",
            static_cast<int64_t>(r.compile_ms + r.parts_ms), ", node states ",
            static_cast<int64_t>(ms(t0, now) - r.load_ms - r.compile_ms - r.parts_ms), ")",
            changed ? "" : ", nothing changed for any node");
  return changed;
}

nodestate::GatewayState ControlPlane::CutGateway(
    const nodestate::CompiledCluster& cluster, const nodestate::GatewayState* was,
    const std::shared_ptr<const void>& was_pods_of) const {
  const policy::ClusterState& state = *cluster.state();
  nodestate::GatewayScope scope{opts_.pipeline.node_states.gateway_namespace, opts_.root_namespace};
  // Cut from the same pods map: the same pods (150,000 are not cut again).
  const bool same_pods = was && was_pods_of == state.pods.Pin();
  return nodestate::GatewayStateOf(state, scope, same_pods ? was : nullptr);
}

bool ControlPlane::PublishGatewayLocked(nodestate::GatewayState next,
                                        const nodestate::CompiledCluster& cluster,
                                        std::chrono::steady_clock::time_point at) {
  if (gateway_) {
    const policy::ClusterState& was = gateway_->objects;
    const bool same =
        next.objects.service_entries.get() == was.service_entries.get() &&
        next.objects.destination_rules.get() == was.destination_rules.get() &&
        next.objects.authorization_policies.get() == was.authorization_policies.get() &&
        next.objects.pods.SameObject(was.pods);
    if (same) return false;
  }
  next.version = NewVersion();
  next.objects.Finalize();
  gateway_pods_of_ = cluster.state()->pods.Pin();
  release_.Release(
      std::exchange(gateway_, std::make_shared<const nodestate::GatewayState>(std::move(next))));
  gateway_changed_at_[gateway_->version] = at;
  while (gateway_changed_at_.size() > opts_.history)
    gateway_changed_at_.erase(gateway_changed_at_.begin());
  return true;
}

std::shared_ptr<const nodestate::GatewayState> ControlPlane::CurrentGateway() {
  std::lock_guard<std::mutex> l(mu_);
  if (!gateways_wanted_) {
    gateways_wanted_ = true;  // Refresh cuts it from now on
    if (cluster_)
      PublishGatewayLocked(CutGateway(*cluster_, gateway_.get(), gateway_pods_of_), *cluster_,
                           std::chrono::steady_clock::now());
  }
  if (!gateway_) {  // no compile yet: an empty state (nothing registered: everything refused)
    nodestate::GatewayState empty;
    empty.version = NewVersion();
    gateway_ = std::make_shared<const nodestate::GatewayState>(std::move(empty));
    gateway_changed_at_[gateway_->version] = std::chrono::steady_clock::now();
  }
  return gateway_;
}

bool ControlPlane::Compiled() {
  std::lock_guard<std::mutex> l(mu_);
  return cluster_ != nullptr;
}

bool ControlPlane::IsGatewayNode(const std::string& node) {
  std::lock_guard<std::mutex> l(mu_);
  if (!cluster_) return false;
  const auto& nodes = cluster_->state()->nodes;
  auto it = nodes.find(node);
  return it != nodes.end() && policy::IsGatewayPool(it->second);
}

std::shared_ptr<const NodeState> ControlPlane::Current(const std::string& node) {
  std::lock_guard<std::mutex> l(mu_);
  return Node(node).versions.back();
}

std::shared_ptr<const NodeState> ControlPlane::Version(const std::string& node, uint64_t version) {
  std::lock_guard<std::mutex> l(mu_);
  for (const auto& v : Node(node).versions) {
    if (v->version == version) return v;
  }
  return nullptr;
}

std::shared_ptr<const NodeState> ControlPlane::WaitChange(
    const std::string& node, uint64_t seen, std::chrono::steady_clock::time_point deadline) {
  std::unique_lock<std::mutex> l(mu_);
  cv_.wait_until(l, deadline, [&] { return Node(node).versions.back()->version != seen; });
  return Node(node).versions.back();
}

uint64_t ControlPlane::WaitAnyChange(uint64_t seen,
                                     std::chrono::steady_clock::time_point deadline) {
  std::unique_lock<std::mutex> l(mu_);
  cv_.wait_until(l, deadline, [&] { return changes_ != seen; });
  return changes_;
}

std::chrono::steady_clock::time_point ControlPlane::ChangedAt(const std::string& node,
                                                              uint64_t version) {
  std::lock_guard<std::mutex> l(mu_);
  auto& m = Node(node).changed_at;
  auto it = m.find(version);
  return it == m.end() ? std::chrono::steady_clock::now() : it->second;
}

std::chrono::steady_clock::time_point ControlPlane::GatewayChangedAt(uint64_t version) {
  std::lock_guard<std::mutex> l(mu_);
  auto it = gateway_changed_at_.find(version);
  return it == gateway_changed_at_.end() ? std::chrono::steady_clock::now() : it->second;
}

void ControlPlane::WakeAll() { cv_.notify_all(); }

std::map<std::string, uint64_t> ControlPlane::CurrentVersions() {
  std::lock_guard<std::mutex> l(mu_);
  std::map<std::string, uint64_t> out;
  for (const auto& [n, pn] : nodes_) {
    if (!pn.versions.empty()) out[n] = pn.versions.back()->version;
  }
  return out;
}

}  // namespace warden::control
