// The desired state of every node, versioned: the one pipeline (agent/nodestate/pipeline.h) cuts
// each node's state from every change of the manifests; a node whose state changed gets a new
// version. One writer (the watch loop); readers (the Sync streams) wait for versions to move.
#pragma once

#include <atomic>
#include <chrono>
#include <condition_variable>
#include <deque>
#include <map>
#include <memory>
#include <mutex>
#include <string>
#include <vector>

#include "agent/common/deferred_release.h"
#include "agent/common/log.h"
#include "agent/nodestate/gateway_state.h"
#include "agent/nodestate/node_state.h"
#include "agent/nodestate/pipeline.h"

namespace warden::control {

using nodestate::NodeState;

struct ControlPlaneOptions {
  nodestate::PipelineOptions pipeline;  // manifests, cluster CIDRs, gateway namespace, allowances
  size_t history = 4;  // versions remembered per node, for deltas after a reconnect
  std::string root_namespace = "istio-system";  // Istio's: its policies go to gateways too
};

class ControlPlane {
 public:
  explicit ControlPlane(ControlPlaneOptions opts);

  // Reloads the manifests if they changed; recompiles and bumps the version of every node whose
  // state changed. Invalid files keep their last valid version (ManifestSource); a compile that
  // fails (tables too small) keeps every node's current version. Returns whether any node's
  // state changed.
  bool Refresh(bool force = false);

  // The current state of `node` (a node not in the manifests gets an empty state: its pods
  // are unknown and stay denied).
  std::shared_ptr<const NodeState> Current(const std::string& node);
  // An earlier version of `node`'s state, if still remembered.
  std::shared_ptr<const NodeState> Version(const std::string& node, uint64_t version);
  // Blocks until `node`'s version differs from `seen`, or until `deadline`.
  std::shared_ptr<const NodeState> WaitChange(const std::string& node, uint64_t seen,
                                              std::chrono::steady_clock::time_point deadline);
  // Blocks until some node's state changed since `seen` (a count of changes; 0 at the start),
  // or until `deadline`, or WakeAll; returns the count now.
  uint64_t WaitAnyChange(uint64_t seen, std::chrono::steady_clock::time_point deadline);
  // When the state of the current version was computed (for push latency).
  std::chrono::steady_clock::time_point ChangedAt(const std::string& node, uint64_t version);
  std::chrono::steady_clock::time_point GatewayChangedAt(uint64_t version);

  // What egress gateways are sent, current version (computed from the first call on: a cluster
  // without gateways does not pay for it). Versions share the nodes' sequence.
  std::shared_ptr<const nodestate::GatewayState> CurrentGateway();
  // Whether `node` is a gateway-pool node of the manifests (only those may subscribe as gateways).
  bool IsGatewayNode(const std::string& node);

  // Whether a compile is in force (readiness: before it, every node would be sent nothing).
  bool Compiled();
  // Every node's current version.
  std::map<std::string, uint64_t> CurrentVersions();
  uint64_t manifest_errors() const { return manifest_errors_; }
  uint64_t compile_errors() const { return compile_errors_; }
  uint64_t reloads() const { return reloads_; }
  // Wakes every waiter (shutdown).
  void WakeAll();

 private:
  struct PerNode {
    std::deque<std::shared_ptr<const NodeState>> versions;  // oldest first; back() is current
    std::map<uint64_t, std::chrono::steady_clock::time_point> changed_at;
  };
  PerNode& Node(const std::string& node);
  // What gateways are sent, cut from `cluster` (no lock: Refresh's thread, or under mu_).
  nodestate::GatewayState CutGateway(const nodestate::CompiledCluster& cluster,
                                     const nodestate::GatewayState* was,
                                     const std::shared_ptr<const void>& was_pods_of) const;
  // `next` (cut from `cluster`) as a new gateway version, unless it equals the current one
  // (mu_ held). Returns whether it was published.
  bool PublishGatewayLocked(nodestate::GatewayState next, const nodestate::CompiledCluster& cluster,
                            std::chrono::steady_clock::time_point at);
  void AddVersion(PerNode& pn, NodeState s, std::chrono::steady_clock::time_point at);

  // First: destroyed last, after every holder of what it frees.
  common::DeferredRelease release_;
  ControlPlaneOptions opts_;
  common::Logger log_{"warden control"};
  nodestate::DesiredStatePipeline pipeline_;  // Refresh only (one thread)
  std::mutex mu_;
  std::condition_variable cv_;
  std::map<std::string, PerNode> nodes_;
  std::shared_ptr<const nodestate::CompiledCluster> cluster_;  // the compile in force
  std::atomic<bool> gateways_wanted_{false};
  std::shared_ptr<const nodestate::GatewayState> gateway_;
  std::shared_ptr<const void> gateway_pods_of_;  // the cluster's pods map gateway_ was cut from
  std::map<uint64_t, std::chrono::steady_clock::time_point> gateway_changed_at_;
  // A new version number (mu_ held, or Refresh's thread before any reader).
  uint64_t NewVersion();
  static constexpr int kReplicaTagBits = 22;  // the clock's milliseconds fill 41 bits
  uint64_t next_version_ = 1;
  uint64_t replica_tag_ = 0;
  uint64_t changes_ = 0;  // Refreshes that changed some node's state
  std::atomic<uint64_t> manifest_errors_{0}, compile_errors_{0}, reloads_{0};
};

}  // namespace warden::control
