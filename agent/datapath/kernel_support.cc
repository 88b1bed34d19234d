#include "agent/datapath/kernel_support.h"

#include <bpf/btf.h>
#include <sys/utsname.h>
#include <unistd.h>

#include <cerrno>
#include <cstring>

#include "absl/strings/str_cat.h"

namespace warden::datapath {

namespace {

std::string KernelRelease() {
  utsname u{};
  return uname(&u) == 0 ? u.release : "unknown";
}

// Whether the enum named `type` in `btf` has a value named `value`.
bool HasEnumValue(const btf* b, const char* type, const char* value) {
  int id = btf__find_by_name_kind(b, type, BTF_KIND_ENUM);
  if (id < 0) return false;
  const btf_type* t = btf__type_by_id(b, id);
  const struct btf_enum* e = btf_enum(t);
  for (int i = 0; i < btf_vlen(t); ++i) {
    if (std::strcmp(btf__name_by_offset(b, e[i].name_off), value) == 0) return true;
  }
  return false;
}

}  // namespace

absl::StatusOr<KernelSupport> CheckKernel(const std::string& btf_path) {
  const std::string kernel = absl::StrCat("this kernel (", KernelRelease(), ")");
  if (access(btf_path.c_str(), R_OK) != 0) {
    return absl::FailedPreconditionError(absl::StrCat(
        kernel, " has no BTF at ", btf_path, " (", std::strerror(errno),
        "): warden node needs a kernel built with CONFIG_DEBUG_INFO_BTF, Linux 6.2 or later"));
  }
  btf* b = btf__parse(btf_path.c_str(), nullptr);
  if (!b) {
    return absl::FailedPreconditionError(
        absl::StrCat(kernel, ": its BTF at ", btf_path, " cannot be read: ", std::strerror(errno)));
  }
  KernelSupport out;
  absl::Status missing;
  if (btf__find_by_name_kind(b, "bpf_cast_to_kern_ctx", BTF_KIND_FUNC) < 0) {
    missing = absl::FailedPreconditionError(absl::StrCat(
        kernel,
        " lacks the kfunc bpf_cast_to_kern_ctx (Linux 6.2 or later): warden node's packet "
        "programs read the socket of each packet through it"));
  }
  out.tcx = HasEnumValue(b, "bpf_attach_type", "BPF_TCX_INGRESS");
  btf__free(b);
  if (!missing.ok()) return missing;
  return out;
}

}  // namespace warden::datapath
