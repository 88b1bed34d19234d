#include "agent/kube/resources.h"

#include "absl/strings/str_cat.h"

namespace warden::kube {

const std::vector<Resource>& WatchedResources() {
  static const std::vector<Resource> kResources = {
      {"Namespace", "namespaces", {"v1"}, false},
      {"Node", "nodes", {"v1"}, false},
      {"Pod", "pods", {"v1"}, true},
      {"NetworkPolicy", "networkpolicies", {"networking.k8s.io/v1"}, true},
      {"ServiceEntry",
       "serviceentries",
       {"networking.istio.io/v1", "networking.istio.io/v1beta1"},
       true},
      {"DestinationRule",
       "destinationrules",
       {"networking.istio.io/v1", "networking.istio.io/v1beta1"},
       true},
      {"AuthorizationPolicy",
       "authorizationpolicies",
       {"security.istio.io/v1", "security.istio.io/v1beta1"},
       true},
  };
  return kResources;
}

namespace {
std::string GroupRoot(const std::string& gv) {
  return gv == "v1" ? "/api/v1" : absl::StrCat("/apis/", gv);
}
}  // namespace

std::string CollectionPath(const Resource& r, const std::string& gv) {
  return absl::StrCat(GroupRoot(gv), "/", r.plural);
}

std::string ObjectPath(const Resource& r, const std::string& gv, const std::string& ns,
                       const std::string& name) {
  if (!r.namespaced) return absl::StrCat(GroupRoot(gv), "/", r.plural, "/", name);
  return absl::StrCat(GroupRoot(gv), "/namespaces/", ns, "/", r.plural, "/", name);
}

}  // namespace warden::kube
