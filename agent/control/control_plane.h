// The desired state of every node: the manifests, compiled, split per node and versioned. One
// writer (the watch loop); readers (the Sync streams) wait for versions to move.
#pragma once

#include <atomic>
#include <chrono>
#include <condition_variable>
#include <deque>
#include <map>
#include <memory>
#include <mutex>
#include <optional>
#include <string>
#include <vector>

#include "agent/control/node_state.h"
#include "agent/policy/compiler.h"
#include "agent/policy/manifest_source.h"

namespace warden::control {

struct ControlPlaneOptions {
  std::string manifests;
  std::vector<policy::Cidr> cluster_cidrs;
  std::string gateway_namespace = "warden-egress";
  std::vector<Allowance> allowances;  // world destinations default-pool nodes may reach
  size_t history = 4;                 // versions remembered per node, for deltas after a reconnect
};

class ControlPlane {
 public:
  explicit ControlPlane(ControlPlaneOptions opts);

  // Reloads the manifests if they changed; recompiles and bumps the version of every node whose
  // state changed. Invalid files keep their last valid version (ManifestSource). Returns
  // whether any node's state changed.
  bool Refresh(bool force = false);

  // The current state of `node` (a node not in the manifests gets an empty state: its pods
  // are unknown and stay denied).
  std::shared_ptr<const NodeState> Current(const std::string& node);
  // An earlier version of `node`'s state, if still remembered.
  std::shared_ptr<const NodeState> Version(const std::string& node, uint64_t version);
  // Blocks until `node`'s version differs from `seen`, or until `deadline`.
  std::shared_ptr<const NodeState> WaitChange(const std::string& node, uint64_t seen,
                                              std::chrono::steady_clock::time_point deadline);
  // When the state of the current version was computed (for push latency).
  std::chrono::steady_clock::time_point ChangedAt(const std::string& node, uint64_t version);

  // Every node's current version.
  std::map<std::string, uint64_t> CurrentVersions();
  uint64_t manifest_errors() const { return manifest_errors_; }
  uint64_t reloads() const { return reloads_; }
  // Wakes every waiter (shutdown).
  void WakeAll();

 private:
  struct PerNode {
    std::deque<std::shared_ptr<const NodeState>> versions;  // oldest first; back() is current
    std::map<uint64_t, std::chrono::steady_clock::time_point> changed_at;
  };
  std::string Fingerprint() const;
  PerNode& Node(const std::string& node);

  ControlPlaneOptions opts_;
  policy::ManifestSource source_;
  std::string fingerprint_;
  bool loaded_ = false;
  std::mutex mu_;
  std::condition_variable cv_;
  std::map<std::string, PerNode> nodes_;
  std::unique_ptr<policy::ClusterState> state_;
  std::unique_ptr<SharedParts> parts_;                   // what every node state of snap_ shares
  std::shared_ptr<policy::CompileCache> compile_cache_;  // identities and ipcache of snap_
  std::unique_ptr<policy::Snapshot> snap_;
  uint64_t next_version_ = 1;
  std::atomic<uint64_t> manifest_errors_{0}, reloads_{0};
};

}  // namespace warden::control
