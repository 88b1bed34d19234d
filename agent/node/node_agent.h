// warden node: keeps one node's BPF tables equal to the node's desired state, for the pods that
// run on the node (found by their cgroups), and reports what the datapath does.
//
// The desired state comes from a source (desired_source.h: the manifests directory compiled here,
// or `warden control` over Sync); the agent accepts a state by making the datapath hold it, or
// refuses it and keeps the tables in force. Each tick rescans the pods' cgroups when due; if the
// resulting tables differ from the ones in force they are applied atomically. Bad input never
// loosens enforcement: invalid manifest files keep their last valid version, a bad update is
// refused, a failed apply keeps the previous tables. Between ticks the event ring buffer is
// drained into the verdict log.
#pragma once

#include <array>
#include <atomic>
#include <chrono>
#include <cstdio>
#include <functional>
#include <map>
#include <memory>
#include <mutex>
#include <optional>
#include <string>
#include <vector>

#include "absl/container/flat_hash_map.h"
#include "absl/container/flat_hash_set.h"
#include "absl/status/statusor.h"
#include "agent/common/http_server.h"
#include "agent/common/log.h"
#include "agent/datapath/bpf_datapath.h"
#include "agent/node/capability_watch.h"
#include "agent/node/desired_source.h"
#include "agent/node/pod_cgroups.h"
#include "agent/node/pod_interfaces.h"
#include "agent/node/pod_netns_interface.h"
#include "agent/node/tables_builder.h"

namespace warden::node {

struct NodeAgentOptions {
  std::string node;
  std::string cgroup_root;
  std::string bpffs;
  // Until the first desired state: the node's pool and world allowances. Afterwards the
  // state's (decided from the Node object's pool label, in both modes).
  uint8_t pool = WD_POOL_DEFAULT;
  std::vector<policy::Allowance> allowances;
  uint8_t unknown_pod = WD_UNKNOWN_POD_DENY;
  std::string log_path = "-";   // verdict log: "-" for stdout
  std::string metrics_address;  // "" for none: else /metrics and /ready on HOST:PORT
  int interval_ms = 100;
  // The tables' first sizes (0 fields: as compiled in); a state that needs more grows them.
  datapath::Capacity capacity;
  // The node forwarder (docs/forwarder.md): on a default-pool node, pods' world-bound TCP
  // connects on `world_ports` go to addr:port (port 0: no forwarder) when their policy admits
  // the state's first gateway endpoint.
  struct Forwarding {
    std::array<uint8_t, 4> addr{};
    uint16_t port = 0;
    std::vector<uint16_t> world_ports = {80, 443};
  } forwarding;
  // Called with every state put in force and the local pods by cgroup id (the forwarder's view
  // of the node), under the agent's lock: it must only copy what it needs.
  std::function<void(const nodestate::NodeState&,
                     const absl::flat_hash_map<uint64_t, std::string>&)>
      on_applied;
  // Appends more lines to /metrics (the forwarder's).
  std::function<void(const std::string& node_label, std::string* out)> extra_metrics;
  // Load the programs in Start() instead of Create(): after Preview(), so that what does not
  // need them (the forwarder) serves during the seconds the verifier takes.
  bool load_in_start = false;
};

struct AgentStats {
  std::atomic<uint64_t> applies{0}, apply_errors{0}, events{0}, local_pods{0}, table_grows{0};
  std::atomic<uint64_t> pods_without_cgroup{0}, generation{0}, desired_states{0}, interfaces{0},
      pods_without_interface{0};
  std::atomic<int64_t> last_apply_unix_ms{0};
};

class NodeAgent {
 public:
  // An apply that wrote more entries than this also brings the other copy of the maps up to
  // date at once (a second flip); a smaller lag is written with the next update.
  static constexpr size_t kIdleCopyLagLimit = 4096;
  static absl::StatusOr<std::unique_ptr<NodeAgent>> Create(
      const NodeAgentOptions& opts, std::unique_ptr<DesiredStateSource> source);
  ~NodeAgent();

  // Before the programs are loaded (with load_in_start): the state the source has now (a saved
  // state, the manifests) and the local pods' cgroups go to on_applied, nothing to the kernel.
  // An agent started again serves its forwarder at once this way: the programs the last agent
  // left attached go on enforcing, and sending it world-bound connects, while the new ones load.
  // Without an initial state, nothing (the forwarder knows no pod: it refuses every flow).
  absl::Status Preview();
  // The source's initial state in force (or an earlier agent's tables left alone), then attach
  // (or adopt the links of an earlier agent), then the source's later states, then metrics.
  absl::Status Start();
  // Ticks until `stop` becomes true. Leaves the programs attached: enforcement outlives us.
  void Run(const std::atomic<bool>& stop);
  // One reconcile; returns whether new tables were applied.
  absl::StatusOr<bool> Reconcile();
  // Puts `d` in force, or refuses it (the error says why) and keeps what is in force.
  absl::Status Enforce(const nodestate::NodeState& d);
  // Reports local pods whose processes hold NET_RAW or NET_ADMIN (capability_watch.h). Run
  // every 10 s.
  void CheckCapabilities();
  void DrainEvents(int timeout_ms);
  // Appends one line (a JSON object, no newline) to the verdict log; any thread.
  void LogLine(const std::string& line);

  const AgentStats& stats() const { return stats_; }
  // Whether the agent is ready (its programs attached and a desired state in force, from the
  // source: the control plane, a saved state or the manifests); when not, why. What /ready
  // answers: 200 "ready", or 503 with the reason.
  bool Ready(std::string* why) const;
  uint16_t metrics_port() const { return http_ ? http_->port() : 0; }
  std::string RenderMetrics() const;

 private:
  NodeAgent(NodeAgentOptions opts, std::unique_ptr<DesiredStateSource> source);
  absl::StatusOr<bool> ReconcileLocked();
  // The pods of `want` whose cgroups are on this node (rescanned when due).
  const std::vector<LocalPod>& ScanPods(const nodestate::NodeState& want,
                                        const common::KubepodsCgroup& kubepods);
  // Makes the datapath hold `want` for `local`; `inputs` name what it was built from.
  absl::StatusOr<bool> ApplyTables(const nodestate::NodeState& want,
                                   const std::vector<LocalPod>& local,
                                   const common::KubepodsCgroup& kubepods,
                                   std::vector<std::pair<std::string, uint64_t>> inputs);
  void NotePool(uint8_t pool);
  // Tables the datapath cannot hold: the maps too small for them grow (BpfDatapath::Grow: new,
  // larger maps under the programs, nothing stops enforcing). Fails, changing nothing, when a
  // table would pass its limit or nothing can grow.
  absl::Status GrowTables(const datapath::NodeTables& tables);
  // Loads the programs (the verifier's seconds) and creates or reuses the pinned maps.
  absl::Status OpenDatapath();
  // The datapath, for the threads that use it without mu_ (events, metrics).
  std::shared_ptr<datapath::BpfDatapath> Datapath() const;
  // The interface programs on the interfaces of the tables in force (pod_interfaces.h), off the
  // others.
  void SyncInterfaces();

  NodeAgentOptions opts_;
  std::unique_ptr<DesiredStateSource> source_;
  common::Logger log_;
  // Replaced (GrowTables) under mu_ and dp_mu_: read under either.
  std::shared_ptr<datapath::BpfDatapath> dp_;
  mutable std::mutex dp_mu_;
  std::mutex mu_;  // one reconcile at a time (the agent loop, the source's deliveries)
  std::optional<nodestate::NodeState> desired_;
  // No desired state yet: leave an earlier agent's tables alone.
  bool keep_existing_ = false;
  uint64_t desired_gen_ = 0;  // bumped whenever desired_ changes
  // What the tables in force were built from: (kubepods, desired_gen_), then pod -> cgroup id.
  std::vector<std::pair<std::string, uint64_t>> applied_inputs_;
  std::chrono::steady_clock::time_point last_scan_{};
  std::optional<datapath::NodeTables> applied_;
  std::optional<nodestate::NodeState> built_from_;  // the state applied_ was built from
  datapath::NodeConfig applied_config_;
  // The last pod cgroup scan: which pods (key, uid) it looked for, and what it found.
  std::vector<std::pair<std::string, std::string>> scanned_for_;
  std::vector<LocalPod> scanned_local_;
  std::map<std::string, std::string> scanned_paths_;  // pod -> its cgroup directory
  uint64_t scanned_missing_ = 0;
  uint64_t scanned_without_interface_ = 0;
  absl::flat_hash_map<uint64_t, std::string> pod_by_cgroup_;
  absl::flat_hash_set<uint32_t> attached_ifaces_;  // interfaces holding the interface programs
  std::optional<uint8_t> noted_pool_;
  CapabilityWatch capabilities_;
  FILE* log_file_ = nullptr;
  std::unique_ptr<common::HttpServer> http_;
  AgentStats stats_;
  // For Ready(), from the HTTP thread.
  std::atomic<bool> attached_{false}, state_in_force_{false}, started_{false};
  bool previewed_ = false;  // Preview() took the source's initial state
};

}  // namespace warden::node
