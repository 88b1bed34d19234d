// Answers "may this flow happen, and why": the verdict comes from the compiled tables through
// the datapath twin (what the kernel will do), the reason from the model (which policy and
// rule). Each side of the flow is reported separately: egress at the source pod, ingress at
// the destination pod.
#pragma once

#include <optional>
#include <string>
#include <vector>

#include "absl/status/statusor.h"
#include "agent/policy/cluster.h"
#include "agent/policy/lockdown.h"
#include "agent/policy/lookup.h"
#include "agent/policy/model.h"
#include "agent/policy/snapshot.h"

namespace warden::policy {

struct SideReport {
  bool applies = false;  // false when that end is not a pod Warden enforces on
  bool allowed = true;
  bool isolated = false;
  std::string reason;
  std::string policy;  // the allowing policy "ns/name", if any
  int rule = -1;
  std::vector<std::string> isolating_policies;
  std::string lockdown;  // egress to the world: what the node-pool lockdown decided, and why
  bool default_pool_lockdown = false;  // refused by a default-pool node's lockdown
};

struct FlowExplanation {
  std::string from, to;        // "ns/pod" or an address
  std::string from_ip, to_ip;  // the addresses the flow uses ("" when a pod has none)
  uint32_t from_identity = WD_ID_NONE, to_identity = WD_ID_NONE;
  std::string port_text;  // as asked: "80" or "http"
  int port = 0;           // resolved number (0 when a named port does not resolve)
  Protocol protocol = Protocol::kTCP;
  bool allowed = false;
  SideReport egress, ingress;
  std::string reason;
  bool consistent = true;  // the model agrees with the compiled tables (false only on a bug)
};

class Explainer {
 public:
  // NetworkPolicy alone, or (with `lockdown`: the world allowances and gateway namespace the
  // agents run with) what the kernel does: for flows from a pod to the world the node-pool
  // lockdown comes first.
  Explainer(const ClusterState& state, const Snapshot& snap,
            std::optional<LockdownOptions> lockdown = std::nullopt)
      : state_(state), snap_(snap), model_(state), twin_(snap), lockdown_(std::move(lockdown)) {}

  // from: "ns/pod" or an address; to: "ns/pod" or an address; port: number or port name
  // (resolved on the destination pod). Errors name the argument that is wrong.
  absl::StatusOr<FlowExplanation> Explain(const std::string& from, const std::string& to,
                                          const std::string& port, Protocol protocol) const;

  // For the matrix: a named port the destination does not declare is a deny, not an error.
  FlowExplanation ExplainPods(const Pod& from, const Pod& to, const std::string& port,
                              Protocol protocol) const;

  const DatapathTwin& twin() const { return twin_; }

 private:
  struct End {
    std::string text;
    const Pod* pod = nullptr;  // enforced pod (not hostNetwork)
    const Pod* any_pod = nullptr;
    std::optional<IpAddress> ip;
  };
  absl::StatusOr<End> ResolveEnd(const std::string& text, const char* flag) const;
  FlowExplanation Evaluate(End from, End to, const std::string& port_text, std::optional<int> port,
                           Protocol protocol) const;
  wd_ipcache_value RemoteOf(const End& e) const;

  const ClusterState& state_;
  const Snapshot& snap_;
  Model model_;
  DatapathTwin twin_;
  std::optional<LockdownOptions> lockdown_;
};

}  // namespace warden::policy
