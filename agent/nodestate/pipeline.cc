#include "agent/nodestate/pipeline.h"

#include <chrono>

namespace warden::nodestate {

namespace {
using Clock = std::chrono::steady_clock;
double MsSince(Clock::time_point t) {
  return std::chrono::duration<double, std::milli>(Clock::now() - t).count();
}
}  // namespace

DesiredStatePipeline::DesiredStatePipeline(PipelineOptions opts)
    : opts_(std::move(opts)),
      source_(opts_.source ? opts_.source
                           : std::make_shared<policy::ManifestSource>(opts_.manifests)) {}

DesiredStatePipeline::Result DesiredStatePipeline::Run() {
  Result r;
  auto t = Clock::now();
  policy::LoadResult loaded = source_->Load();
  r.errors = std::move(loaded.errors);
  r.load_ms = MsSince(t);
  t = Clock::now();
  auto state = std::make_shared<const policy::ClusterState>(std::move(loaded.state));
  policy::CompileOptions co;
  co.cluster_cidrs = opts_.cluster_cidrs;
  co.limits = opts_.limits;
  absl::StatusOr<policy::Snapshot> snap = policy::Compile(*state, co, &compile_cache_);
  r.compile_ms = MsSince(t);
  if (!snap.ok()) {
    r.status = snap.status();
    return r;
  }
  t = Clock::now();
  r.snapshot = std::make_shared<const policy::Snapshot>(std::move(*snap));
  SharedParts parts =
      ComputeSharedParts(*state, *r.snapshot, current_ ? &current_->parts() : nullptr);
  current_ = std::make_shared<const CompiledCluster>(std::move(state), std::move(parts),
                                                     opts_.node_states);
  r.parts_ms = MsSince(t);
  r.cluster = current_;
  return r;
}

}  // namespace warden::nodestate
