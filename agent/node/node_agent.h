// warden node: keeps one node's BPF tables equal to the node's desired state, for the pods that
// run on the node (found by their cgroups), and reports what the datapath does.
//
// The desired state (control::NodeState) comes from the manifests directory (compiled here) or,
// with --control, from `warden control` over Sync; then it is persisted under --state-dir so
// that a restart with the control plane down comes back enforcing it. Each tick rescans the
// pods' cgroups (and, without --control, re-reads changed manifests); if the resulting tables
// differ from the ones in force they are applied atomically. Bad input never loosens
// enforcement: invalid manifest files keep their last valid version, a bad update is NACKed,
// a failed apply keeps the previous tables. Between ticks the event ring buffer is drained
// into the verdict log.
#pragma once

#include <atomic>
#include <chrono>
#include <condition_variable>
#include <cstdio>
#include <memory>
#include <mutex>
#include <string>
#include <thread>
#include <vector>

#include "absl/container/flat_hash_map.h"
#include "absl/status/statusor.h"
#include "agent/common/http_server.h"
#include "agent/datapath/bpf_datapath.h"
#include "agent/node/pod_cgroups.h"
#include "agent/node/sync_client.h"
#include "agent/node/tables_builder.h"
#include "agent/policy/compiler.h"
#include "agent/policy/manifest_source.h"
#include "agent/policy/snapshot.h"

namespace warden::node {

struct NodeAgentOptions {
  std::string node;
  std::string manifests;
  std::string cgroup_root;
  std::string bpffs;
  uint8_t pool = WD_POOL_DEFAULT;
  uint8_t unknown_pod = WD_UNKNOWN_POD_DENY;
  std::vector<Allowance> allowances;
  std::vector<policy::Cidr> cluster_cidrs;
  std::string gateway_namespace = "warden-egress";
  std::string log_path = "-";   // verdict log: "-" for stdout
  std::string metrics_address;  // "" for none
  int interval_ms = 100;
  // Control-plane mode (instead of reading the manifests).
  std::string control;  // host:port of warden control
  std::string tls_cert, tls_key, tls_ca, tls_server_name;
  std::string state_dir;  // where the last applied state is kept
};

struct AgentStats {
  std::atomic<uint64_t> applies{0}, apply_errors{0}, manifest_errors{0}, events{0}, local_pods{0};
  std::atomic<uint64_t> pods_without_cgroup{0}, generation{0}, manifest_loads{0};
  std::atomic<int64_t> last_apply_unix_ms{0};
};

class NodeAgent {
 public:
  static absl::StatusOr<std::unique_ptr<NodeAgent>> Create(const NodeAgentOptions& opts);
  ~NodeAgent();

  // First reconcile, then attach (or adopt the links of an earlier agent), then metrics.
  absl::Status Start();
  // Ticks until `stop` becomes true. Leaves the programs attached: enforcement outlives us.
  void Run(const std::atomic<bool>& stop);
  // One reconcile; returns whether new tables were applied.
  absl::StatusOr<bool> Reconcile();
  // Control-plane mode: enforce `s` (called by the Sync client; its status becomes ACK/NACK).
  absl::Status OfferState(const control::NodeState& s);
  void DrainEvents(int timeout_ms);

  const AgentStats& stats() const { return stats_; }
  uint16_t metrics_port() const { return http_ ? http_->port() : 0; }
  std::string RenderMetrics() const;

 private:
  explicit NodeAgent(NodeAgentOptions opts) : opts_(std::move(opts)), source_(opts_.manifests) {}
  std::string ManifestFingerprint() const;
  void Log(const std::string& msg) const;
  absl::StatusOr<bool> ReconcileLocked();
  std::string StatePath() const;
  // Persists the newest offered state off the update path: after a short delay (updates come
  // in bursts), from its own thread, so that the ACK and the next update do not wait for it.
  void SaveLoop();
  void Persist(const control::NodeState& s);

  NodeAgentOptions opts_;
  std::unique_ptr<datapath::BpfDatapath> dp_;
  policy::ManifestSource source_;
  std::shared_ptr<policy::CompileCache> compile_cache_;  // manifests mode: reused between loads
  std::unique_ptr<control::SharedParts> parts_;          // manifests mode: of the last load
  std::string fingerprint_;
  std::mutex mu_;  // one reconcile at a time (the agent loop, the Sync client)
  std::optional<control::NodeState> desired_;
  // Control mode, no state yet: leave an earlier agent's tables alone.
  bool keep_existing_ = false;
  uint64_t desired_gen_ = 0;  // bumped whenever desired_ changes
  // What the tables in force were built from: (kubepods, desired_gen_), then pod -> cgroup id.
  std::vector<std::pair<std::string, uint64_t>> applied_inputs_;
  std::chrono::steady_clock::time_point last_scan_{};
  std::unique_ptr<policy::ClusterState> state_;  // manifests mode: for naming policies in the log
  std::unique_ptr<SyncClient> sync_;
  std::optional<datapath::NodeTables> applied_;
  std::optional<control::NodeState> built_from_;  // the state applied_ was built from
  // The last pod cgroup scan: which pods (key, uid) it looked for, and what it found.
  std::vector<std::pair<std::string, std::string>> scanned_for_;
  std::vector<LocalPod> scanned_local_;
  uint64_t scanned_missing_ = 0;
  // Persistence (SaveLoop).
  std::mutex save_mu_;
  std::condition_variable save_cv_;
  std::optional<control::NodeState> to_save_;
  bool save_stop_ = false;
  std::thread saver_;
  datapath::NodeConfig applied_config_;
  absl::flat_hash_map<uint64_t, std::string> pod_by_cgroup_;
  FILE* log_ = nullptr;
  std::unique_ptr<common::HttpServer> http_;
  AgentStats stats_;
};

}  // namespace warden::node
