// What the node's kernel must offer the datapath, checked before anything is loaded so that an
// unfit kernel gets one message naming what it lacks (docs/deploy.md, "Requirements") rather
// than a verifier or libbpf error halfway through loading:
//   - BTF of the kernel (CONFIG_DEBUG_INFO_BTF): CO-RE relocations, typed socket access;
//   - the kfunc bpf_cast_to_kern_ctx (Linux 6.2): the packet programs read the socket and its
//     cgroup from the sk_buff through it.
// And what it may offer: tcx (Linux 6.6) for the programs on pods' interfaces; without it they
// are attached as clsact filters.
#pragma once

#include <string>

#include "absl/status/statusor.h"

namespace warden::datapath {

struct KernelSupport {
  bool tcx = false;
};

// Reads the kernel's BTF at `btf_path`. FailedPrecondition, naming the kernel release and what
// is missing, when the datapath cannot run on it.
absl::StatusOr<KernelSupport> CheckKernel(const std::string& btf_path = "/sys/kernel/btf/vmlinux");

}  // namespace warden::datapath
