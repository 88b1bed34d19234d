// The kinds the control plane reads from the Kubernetes API: exactly those the decoder turns
// into policy (agent/policy/k8s_decode.cc). Istio's Gateway, VirtualService and Sidecar change
// no verdict and are not watched.
#pragma once

#include <string>
#include <vector>

namespace warden::kube {

struct Resource {
  std::string kind;    // "Pod"
  std::string plural;  // "pods"
  // The API group versions to ask, in order; the next is tried when the server answers 404
  // (an older Istio serves v1beta1 only). "v1" is the core group.
  std::vector<std::string> group_versions;
  bool namespaced = true;
};

const std::vector<Resource>& WatchedResources();

// "/api/v1/pods", "/apis/networking.istio.io/v1/serviceentries"
std::string CollectionPath(const Resource& r, const std::string& group_version);
// The object's own path, "/api/v1/namespaces/team-x/pods/app": what errors name as its file.
std::string ObjectPath(const Resource& r, const std::string& group_version, const std::string& ns,
                       const std::string& name);

}  // namespace warden::kube
