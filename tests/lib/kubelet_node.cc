#include "tests/lib/kubelet_node.h"

#include "absl/strings/str_cat.h"
#include "agent/common/cgroup.h"

namespace warden::testlib {

absl::StatusOr<KubeletNode> KubeletNode::Create(const std::string& root) {
  if (absl::Status st = common::MakeCgroup(root + "/kubepods"); !st.ok()) return st;
  auto kubepods = common::FindKubepods(root);
  if (!kubepods.ok()) return kubepods.status();
  KubeletNode n;
  n.root_ = root;
  n.kubepods_ = *kubepods;
  return n;
}

absl::StatusOr<PodCgroup> KubeletNode::AddPod(const std::string& uid, const std::string& qos) {
  PodCgroup pod;
  pod.path = common::PodCgroupPath(kubepods_, qos, uid);
  if (absl::Status st = common::MakeCgroup(pod.path); !st.ok()) return st;
  auto id = common::CgroupId(pod.path);
  if (!id.ok()) return id.status();
  pod.id = *id;
  return pod;
}

absl::StatusOr<PodCgroup> KubeletNode::AddPodWithContainer(const std::string& uid,
                                                           const std::string& qos) {
  auto pod = AddPod(uid, qos);
  if (!pod.ok()) return pod.status();
  pod->container = pod->path + "/c1";
  if (absl::Status st = common::MakeCgroup(pod->container); !st.ok()) return st;
  return pod;
}

}  // namespace warden::testlib
