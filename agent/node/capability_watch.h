// Pods whose processes hold capabilities that reach past the cgroup programs: NET_RAW (packet
// sockets, which no cgroup hook sees) and NET_ADMIN (tunnel devices, forwarding, interfaces).
// Kubernetes' restricted Pod Security Standard drops both; a pod that holds one is reported: a log
// line when it gains it, and a gauge per pod and capability.
#pragma once

#include <map>
#include <mutex>
#include <string>
#include <utility>
#include <vector>

#include "agent/common/capabilities.h"
#include "agent/common/log.h"

namespace warden::node {

class CapabilityWatch {
 public:
  static const common::CapabilitySet kWatched;

  explicit CapabilityWatch(common::Logger log) : log_(std::move(log)) {}

  // Looks at every pod's processes (pod key "ns/name" -> its cgroup directory). Pods not in
  // `pods` are forgotten.
  void Check(const std::vector<std::pair<std::string, std::string>>& pods);
  // warden_pod_capability{<labels>,namespace=..,pod=..,capability=..} 1, for each watched
  // capability a pod holds.
  void AppendMetrics(const std::string& labels, std::string* out) const;

 private:
  common::Logger log_;
  mutable std::mutex mu_;
  std::map<std::string, common::CapabilitySet> held_;  // pod -> watched capabilities it holds
};

}  // namespace warden::node
