#include "agent/lab/capabilities.h"

#include <sys/prctl.h>
#include <sys/syscall.h>
#include <unistd.h>

#include <cerrno>
#include <cstdint>
#include <cstring>
#include <string>

#include "absl/strings/str_cat.h"

namespace warden::lab {
namespace {

absl::Status Failed(int err, const std::string& what) {
  return absl::InternalError(absl::StrCat(what, ": ", std::strerror(err)));
}

}  // namespace

absl::Status LimitCapabilities(std::span<const int> keep) {
  uint64_t mask = 0;
  for (int c : keep) mask |= uint64_t{1} << c;
  __user_cap_header_struct header{_LINUX_CAPABILITY_VERSION_3, 0};
  __user_cap_data_struct data[_LINUX_CAPABILITY_U32S_3] = {};
  if (syscall(SYS_capget, &header, data) != 0) return Failed(errno, "capget");
  // Asking capset for a capability this process lacks fails: keep only what it holds.
  mask &= uint64_t{data[0].permitted} | uint64_t{data[1].permitted} << 32;

  // Ambient capabilities would be added to the program's permitted set on execve. (EINVAL: a
  // kernel without ambient capabilities, nothing to clear.)
  if (prctl(PR_CAP_AMBIENT, PR_CAP_AMBIENT_CLEAR_ALL, 0, 0, 0) != 0 && errno != EINVAL)
    return Failed(errno, "clearing the ambient capabilities");
  // PR_CAPBSET_READ fails past the kernel's last capability: every one the kernel knows is
  // dropped, also those newer than these headers.
  for (int c = 0; prctl(PR_CAPBSET_READ, c, 0, 0, 0) >= 0; ++c) {
    if (c < 64 && (mask >> c & 1)) continue;
    if (prctl(PR_CAPBSET_DROP, c, 0, 0, 0) != 0) {
      int err = errno;
      return Failed(err, absl::StrCat("dropping capability ", c, " from the bounding set"));
    }
  }
  for (int i = 0; i < _LINUX_CAPABILITY_U32S_3; ++i) {
    uint32_t word = static_cast<uint32_t>(mask >> (32 * i));
    data[i] = __user_cap_data_struct{word, word, 0};  // effective, permitted, inheritable
  }
  if (syscall(SYS_capset, &header, data) != 0) return Failed(errno, "capset");
  return absl::OkStatus();
}

}  // namespace warden::lab
