#include "agent/control/control_plane.h"

#include <sys/stat.h>

#include <filesystem>
#include <iostream>
#include <set>

#include "absl/strings/str_cat.h"
#include "agent/common/dir_watch.h"

namespace warden::control {

ControlPlane::ControlPlane(ControlPlaneOptions opts)
    : opts_(std::move(opts)), source_(opts_.manifests) {
  // Versions never repeat across restarts of the control plane: an agent that still holds
  // version N of an earlier run must not mistake a different state numbered N for its own.
  next_version_ = static_cast<uint64_t>(std::chrono::duration_cast<std::chrono::microseconds>(
                                            std::chrono::system_clock::now().time_since_epoch())
                                            .count());
}

std::string ControlPlane::Fingerprint() const { return common::DirFingerprint(opts_.manifests); }

ControlPlane::PerNode& ControlPlane::Node(const std::string& node) {
  PerNode& pn = nodes_[node];
  if (pn.versions.empty()) {
    NodeState s;
    if (snap_) {
      s = ComputeNodeState(*state_, *snap_, *parts_, node, opts_.gateway_namespace,
                           opts_.allowances);
    } else {
      s.node = node;
    }
    s.version = next_version_++;
    pn.changed_at[s.version] = std::chrono::steady_clock::now();
    pn.versions.push_back(std::make_shared<const NodeState>(std::move(s)));
  }
  return pn;
}

bool ControlPlane::Refresh(bool force) {
  std::string fp = Fingerprint();
  if (loaded_ && !force && fp == fingerprint_) return false;
  auto t0 = std::chrono::steady_clock::now();
  policy::LoadResult loaded = source_.Load();
  auto t_load = std::chrono::steady_clock::now();
  manifest_errors_ = loaded.errors.size();
  ++reloads_;
  for (const auto& e : loaded.errors)
    std::cerr << "warden control: manifest error: " << e.ToString() << "\n";
  auto state = std::make_unique<policy::ClusterState>(std::move(loaded.state));
  policy::CompileOptions co;
  co.cluster_cidrs = opts_.cluster_cidrs;
  auto snap = std::make_unique<policy::Snapshot>(policy::Compile(*state, co, &compile_cache_));
  // parts_ is written only here, and Refresh runs on one thread: read without the lock.
  auto t_compile = std::chrono::steady_clock::now();
  auto parts = std::make_unique<SharedParts>(ComputeSharedParts(*state, *snap, parts_.get()));
  // Compute every node's state before taking the lock: streams keep heartbeating and reading
  // acks meanwhile.
  std::set<std::string> names;
  for (const auto& [n, _] : state->nodes) names.insert(n);
  for (const auto& [_, p] : state->pods) {
    if (!p.node_name.empty()) names.insert(p.node_name);
  }
  {
    std::lock_guard<std::mutex> l(mu_);
    for (const auto& [n, _] : nodes_) names.insert(n);
  }
  std::map<std::string, NodeState> fresh;
  for (const auto& n : names) {
    fresh.emplace(
        n, ComputeNodeState(*state, *snap, *parts, n, opts_.gateway_namespace, opts_.allowances));
  }
  auto now = std::chrono::steady_clock::now();
  bool changed = false;
  std::lock_guard<std::mutex> l(mu_);
  fingerprint_ = fp;
  loaded_ = true;
  state_ = std::move(state);
  snap_ = std::move(snap);
  parts_ = std::move(parts);
  for (auto& [n, s] : fresh) {
    PerNode& pn = nodes_[n];
    if (!pn.versions.empty() && pn.versions.back()->SameContents(s)) continue;
    s.version = next_version_++;
    pn.changed_at[s.version] = now;
    pn.versions.push_back(std::make_shared<const NodeState>(std::move(s)));
    while (pn.versions.size() > opts_.history) {
      pn.changed_at.erase(pn.versions.front()->version);
      pn.versions.pop_front();
    }
    changed = true;
  }
  if (changed) cv_.notify_all();
  auto ms = [](auto a, auto b) {
    return std::chrono::duration_cast<std::chrono::milliseconds>(b - a).count();
  };
  std::cerr << "warden control: reload " << reloads_ << " in " << ms(t0, now) << " ms (load "
            << ms(t0, t_load) << ", compile " << ms(t_load, t_compile) << ", node states "
            << ms(t_compile, now) << ")" << (changed ? "" : ", nothing changed for any node")
            << "\n";
  return changed;
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

std::chrono::steady_clock::time_point ControlPlane::ChangedAt(const std::string& node,
                                                              uint64_t version) {
  std::lock_guard<std::mutex> l(mu_);
  auto& m = Node(node).changed_at;
  auto it = m.find(version);
  return it == m.end() ? std::chrono::steady_clock::now() : it->second;
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
