// Where the Kubernetes objects come from, for long-running users (the control plane, a node
// agent without a control plane): a manifests directory (ManifestSource) or the Kubernetes API
// (kube::ApiSource). Both give the same LoadResult from the same decoder, and both keep the last
// valid version of an object that turns invalid, so a bad edit never changes what is enforced.
#pragma once

#include "agent/policy/manifest_result.h"

namespace warden::policy {

class ObjectSource {
 public:
  virtual ~ObjectSource() = default;
  // Whether what Load() returns may differ from the last Load() (cheap; may say yes wrongly,
  // never no wrongly). The next Load() takes what this saw as its starting point.
  virtual bool Changed() = 0;
  // Every object now, with what is wrong with those that are invalid.
  virtual LoadResult Load() = 0;
};

}  // namespace warden::policy
