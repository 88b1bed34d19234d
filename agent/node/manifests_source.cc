#include "agent/node/manifests_source.h"

#include <malloc.h>

#include "absl/strings/str_cat.h"

namespace warden::node {

ManifestsSource::ManifestsSource(std::string node, nodestate::PipelineOptions opts)
    : node_(std::move(node)), log_("warden node " + node_), pipeline_(std::move(opts)) {}

std::optional<nodestate::NodeState> ManifestsSource::Load() {
  nodestate::DesiredStatePipeline::Result r = pipeline_.Run();
  manifest_errors_ = r.errors.size();
  for (const auto& e : r.errors) log_.Warning("manifest error: ", e.ToString());
  malloc_trim(0);  // the parse and compile peak, freed: back to the kernel
  if (!r.cluster) {
    ++compile_errors_;
    log_.Error("keeping the state in force: ", r.status.message());
    return std::nullopt;
  }
  return r.cluster->NodeStateOf(node_);
}

std::optional<nodestate::NodeState> ManifestsSource::Initial() { return Load(); }

void ManifestsSource::Tick() {
  if (!enforce_ || !pipeline_.Changed()) return;
  std::optional<nodestate::NodeState> d = Load();
  if (!d) return;
  if (absl::Status st = enforce_(*d); !st.ok())
    log_.Error("the manifests' state was refused, keeping the one in force: ", st.message());
}

void ManifestsSource::AppendMetrics(const std::string& labels, std::string* out) const {
  absl::StrAppend(out, "# HELP warden_manifest_errors Invalid manifest objects in the last load.\n",
                  "# TYPE warden_manifest_errors gauge\nwarden_manifest_errors{", labels, "} ",
                  manifest_errors_.load(), "\n");
  absl::StrAppend(out,
                  "# HELP warden_compile_errors_total Loads whose compile failed (state kept).\n",
                  "# TYPE warden_compile_errors_total counter\nwarden_compile_errors_total{",
                  labels, "} ", compile_errors_.load(), "\n");
}

}  // namespace warden::node
