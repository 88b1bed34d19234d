// The agent's desired state from a manifests directory: the node's own cut of the one pipeline
// (agent/nodestate/pipeline.h), compiled on the node whenever the directory changes. A compile
// that fails leaves the state in force as it is.
#pragma once

#include <atomic>
#include <string>

#include "agent/common/log.h"
#include "agent/node/desired_source.h"
#include "agent/nodestate/pipeline.h"

namespace warden::node {

class ManifestsSource : public DesiredStateSource {
 public:
  ManifestsSource(std::string node, nodestate::PipelineOptions opts);

  std::optional<nodestate::NodeState> Initial() override;
  void Start(Enforce enforce) override { enforce_ = std::move(enforce); }
  void Tick() override;
  void AppendMetrics(const std::string& labels, std::string* out) const override;

 private:
  // Runs the pipeline; the node's state, or nothing when the compile failed.
  std::optional<nodestate::NodeState> Load();

  std::string node_;
  common::Logger log_;
  nodestate::DesiredStatePipeline pipeline_;
  Enforce enforce_;
  std::atomic<uint64_t> manifest_errors_{0}, compile_errors_{0};
};

}  // namespace warden::node
