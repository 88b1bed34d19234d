// The one path from manifests to node states: load (ManifestSource: only changed files are
// parsed again, invalid files keep their last valid version) -> compile (on top of the previous
// compile) -> the parts every node state shares (reusing the previous ones) -> a node's state.
// `warden control` cuts every node's state from it, `warden node --manifests` its own, the
// benchmarks measure it; a gateway's state will be cut from the same compile.
#pragma once

#include <memory>
#include <optional>
#include <string>
#include <vector>

#include "absl/status/status.h"
#include "agent/nodestate/from_snapshot.h"
#include "agent/policy/compiler.h"
#include "agent/policy/manifest_source.h"

namespace warden::nodestate {

struct PipelineOptions {
  std::string manifests;  // the directory (when `source` is not given)
  // Where the objects come from; a ManifestSource of `manifests` when null.
  std::shared_ptr<policy::ObjectSource> source;
  std::vector<policy::Cidr> cluster_cidrs;
  NodeStateOptions node_states;
  // What the datapath's cluster-wide tables hold: a compile that needs more fails naming the
  // table, and the last good one stays in force.
  policy::TableLimits limits;
};

// One compile of the cluster: what every node's state of it shares, and the objects it was
// compiled from. Immutable. (The snapshot itself is not kept: node states need only the parts,
// and the next compile builds on what the compile cache keeps.)
class CompiledCluster {
 public:
  CompiledCluster(std::shared_ptr<const policy::ClusterState> state, SharedParts parts,
                  NodeStateOptions options)
      : state_(std::move(state)), parts_(std::move(parts)), options_(std::move(options)) {}

  const std::shared_ptr<const policy::ClusterState>& state() const { return state_; }
  const SharedParts& parts() const { return parts_; }
  // The state of `node` (version 0). A node the cluster does not know gets a state with no
  // pods: its pods stay unknown, denied.
  NodeState NodeStateOf(const std::string& node) const {
    return ComputeNodeState(*state_, parts_, node, options_);
  }
  const std::vector<std::string>& NodeNames() const { return *parts_.node_names; }

 private:
  std::shared_ptr<const policy::ClusterState> state_;
  SharedParts parts_;
  NodeStateOptions options_;
};

class DesiredStatePipeline {
 public:
  explicit DesiredStatePipeline(PipelineOptions opts);

  // Whether the objects may have changed since the last Run() (ObjectSource::Changed).
  bool Changed() { return source_->Changed(); }

  struct Result {
    // The new compile; null when it failed (then `status` says why, and whoever holds the
    // previous compile keeps it).
    std::shared_ptr<const CompiledCluster> cluster;
    std::shared_ptr<const policy::Snapshot> snapshot;  // the compile's tables, to look at
    absl::Status status;
    std::vector<policy::ManifestError> errors;  // invalid objects (their files' last valid
                                                // versions were used)
    double load_ms = 0, compile_ms = 0, parts_ms = 0;
  };
  Result Run();
  // The last successful compile, if any.
  const std::shared_ptr<const CompiledCluster>& current() const { return current_; }

 private:
  PipelineOptions opts_;
  std::shared_ptr<policy::ObjectSource> source_;
  std::shared_ptr<policy::CompileCache> compile_cache_;
  std::shared_ptr<const CompiledCluster> current_;
};

}  // namespace warden::nodestate
