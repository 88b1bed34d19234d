// The Kubernetes API as the control plane's object source: one reflector per watched kind
// (resources.h) filling one cache, loaded through the same decoder and last-valid-version rule
// as a manifests directory (an object that turns invalid keeps its last valid version; its
// errors name the object's API path, the object and the field).
#pragma once

#include <chrono>
#include <memory>
#include <string>
#include <vector>

#include "absl/status/statusor.h"
#include "agent/kube/api_client.h"
#include "agent/kube/object_cache.h"
#include "agent/kube/reflector.h"
#include "agent/policy/last_good.h"
#include "agent/policy/object_source.h"

namespace warden::kube {

struct ApiSourceOptions {
  ApiTimeouts timeouts;
  ReflectorOptions reflector;
};

class ApiSource : public policy::ObjectSource {
 public:
  // Starts listing and watching every kind (in the background: an unreachable server is
  // retried, never fatal).
  static absl::StatusOr<std::unique_ptr<ApiSource>> Start(const ApiServerConfig& cfg,
                                                          ApiSourceOptions opts = {});
  ~ApiSource() override;

  bool Changed() override;
  policy::LoadResult Load() override;

  // Kinds not listed yet (nothing may be compiled before every kind is).
  std::vector<std::string> Unsynced() const { return cache_.Unsynced(); }
  // Blocks until the objects change after the last Load() (or `deadline`, or Stop()).
  void WaitChange(std::chrono::steady_clock::time_point deadline);
  // Prometheus text: per kind, lists, watches, events, 410s, errors, malformed answers, synced.
  std::string RenderMetrics() const;
  void Stop();

 private:
  ApiSource() = default;
  ObjectCache cache_;
  std::vector<std::unique_ptr<Reflector>> reflectors_;
  uint64_t loaded_changes_ = 0;
  bool loaded_ = false;
  policy::LastGood last_good_;
  policy::ParseCache parse_;
};

}  // namespace warden::kube
