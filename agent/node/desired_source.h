// Where the agent's desired state comes from. Two sources: the manifests directory, compiled on
// the node (manifests_source.h), and `warden control`'s Sync stream (sync_source.h). Either
// hands the agent whole node states; the agent's one job is to make the datapath hold the state
// it accepted (node_agent.h).
#pragma once

#include <functional>
#include <memory>
#include <optional>
#include <string>

#include "absl/status/status.h"
#include "agent/nodestate/node_state.h"

namespace warden::node {

class DesiredStateSource {
 public:
  // Puts a state in force: OK once it is; an error when it is refused (the state in force
  // stays), which goes back to where the state came from.
  using Enforce = std::function<absl::Status(const nodestate::NodeState&)>;

  virtual ~DesiredStateSource() = default;
  // The state to enforce from the start, if the source has one now (the manifests, compiled;
  // the state saved by the last run). Without one, tables an earlier agent left in force stay
  // as they are until the source delivers.
  virtual std::optional<nodestate::NodeState> Initial() = 0;
  // Delivers every later state through `enforce`, from a thread of its own or from Tick().
  virtual void Start(Enforce enforce) = 0;
  // Called from the agent's loop, every tick.
  virtual void Tick() {}
  virtual void Stop() {}
  // Prometheus samples of the source's own; `labels` go inside every sample's braces.
  virtual void AppendMetrics(const std::string& labels, std::string* out) const = 0;
};

}  // namespace warden::node
