// compile_bench (d): one set of random flows answered twice, by the model (Model::Evaluate:
// egress at the source, then ingress at the destination) and by the compiled tables
// (DatapathTwin: an ipcache lookup, then Lookup on each side). Half the flows are traffic the
// policies were written for (DNS, backend to data, cross-team gRPC, scraping, internet egress),
// half random pod pairs and outside addresses.
#pragma once

#include "agent/policy/compiler.h"
#include "agent/policy/manifest_loader.h"

namespace warden::bench {

struct FlowComparison {
  int flows = 0, allowed = 0, disagreements = 0;
  double model_ms = 0, twin_ms = 0;  // for all the flows
};

FlowComparison CompareModelAndTwin(const policy::ClusterState& st, const policy::Snapshot& snap,
                                   int flows);

}  // namespace warden::bench
