// The Linux capabilities a process keeps across execve(2), set with prctl(2) and capset(2)
// directly (libcap is not a dependency), as a container runtime sets them for a container.
#pragma once

#include <linux/capability.h>

#include <array>
#include <span>

#include "absl/status/status.h"

namespace warden::lab {

// The capabilities containerd gives every container unless its spec adds or drops some
// (containerd oci/spec.go, defaultUnixCaps; the same list as moby's default): NET_RAW is in,
// NET_ADMIN and SYS_ADMIN are not. /proc/PID/status shows them as CapEff 00000000a80425fb.
inline constexpr std::array<int, 14> kContainerDefaultCapabilities = {
    CAP_CHOWN,   CAP_DAC_OVERRIDE, CAP_FSETID,           CAP_FOWNER,
    CAP_MKNOD,   CAP_NET_RAW,      CAP_SETGID,           CAP_SETUID,
    CAP_SETFCAP, CAP_SETPCAP,      CAP_NET_BIND_SERVICE, CAP_SYS_CHROOT,
    CAP_KILL,    CAP_AUDIT_WRITE};

// Limits this process, and every program it executes, to `keep` (less any it does not hold):
// the bounding, permitted and effective sets become `keep`, the inheritable and ambient sets
// empty. A root process keeps them across execve because root's permitted set after execve is
// its bounding set.
absl::Status LimitCapabilities(std::span<const int> keep);

}  // namespace warden::lab
